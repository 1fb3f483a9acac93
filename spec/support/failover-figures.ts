import type { Workload } from './loss-checker.js';
import type { RunningProcess } from './processes.js';

/**
 * The figures of a fail-over, read from what the clients logged and from the loss checker's
 * books: which node a client is on, when it lost its connection and when it was connected again,
 * and how long work stood still. The cluster fault specs print them (docs/deployment.md quotes
 * them); none is asserted as a time.
 */

/** A line a producer logged, with the time it was written (see timedLogger in failover-load.ts). */
export interface TimedLine {
  at: number;
  line: string;
}

export type ClientRole = 'consume' | 'publish';

/** "broker amqp(s)://user:***@127.0.0.1:<port> connected (<role>)": the node each connection is on. */
const CONNECTED = /broker amqps?:\/\/[^@\s]*@127\.0\.0\.1:(\d+) connected \((consume|publish)\)/g;

/** The port of the node each role is connected to, as the latest "connected" lines in `text` say. */
export function connectedPorts(text: string): { consume?: number; publish?: number } {
  const ports: { consume?: number; publish?: number } = {};
  for (const match of text.matchAll(CONNECTED)) ports[match[2] as ClientRole] = Number(match[1]);
  return ports;
}

/** How many "connected (role)" lines `text` holds. */
export function connectedCount(text: string, role: ClientRole): number {
  return [...text.matchAll(CONNECTED)].filter((match) => match[2] === role).length;
}

/** Resolves with Date.now() when `worker` logged one more "connected (role)" line than `before`. */
export async function reconnectedAt(worker: RunningProcess, role: ClientRole, before: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (connectedCount(worker.output(), role) <= before) {
    if (Date.now() > deadline) throw new Error(`the worker did not reconnect (${role}) within ${timeoutMs} ms:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now();
}

/**
 * The lines of a worker's log (`[YYYY-MM-DD HH:mm:ss,SSS: LEVEL/who] message`, local time) with
 * the time each was written; lines without a stamp (continuations) are left out.
 */
function workerLog(output: string): TimedLine[] {
  const lines: TimedLine[] = [];
  for (const line of output.split('\n')) {
    const stamp = /^\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}):/.exec(line);
    if (stamp) lines.push({ at: new Date(`${stamp[1]}T${stamp[2]}.${stamp[3]}`).getTime(), line });
  }
  return lines;
}

/**
 * When the first line of a worker's `output` at or after `since` matches `pattern`, in ms since
 * the epoch; null if none does. (The log's clock has millisecond steps: a line written in the
 * same millisecond as `since` counts.)
 */
export function loggedAt(output: string, pattern: RegExp, since: number): number | null {
  return timedLineAt(workerLog(output), pattern, since - 1);
}

/**
 * Time to recover from a fault at `faultAt`: until the worker received its first task after it
 * logged its consuming connection lost — a delivery on its next connection, whether or not its
 * "connected" line came yet (it comes once every re-declaration answered). Null if there was
 * none. (The first task started after the fault would say nothing: a worker goes on with the
 * tasks it holds for a while after its connection is gone.)
 */
export function recoveredAfter(worker: RunningProcess, faultAt: number): number | null {
  const lines = workerLog(worker.output());
  const lost = lines.findIndex((entry) => entry.at >= faultAt - 1 && / consume connection lost /.test(entry.line));
  if (lost < 0) return null;
  const received = lines.slice(lost + 1).find((entry) => entry.line.endsWith('] received'));
  return received ? received.at - faultAt : null;
}

/** When the first of `lines` at or after `since` matches `pattern`; null if none does. */
export function timedLineAt(lines: readonly TimedLine[], pattern: RegExp, since: number): number | null {
  return lines.find((entry) => entry.at >= since && pattern.test(entry.line))?.at ?? null;
}

/** A time in ms for a diagnostic line, 'n/a' when there is none. */
export const ms = (value: number | null): string => (value === null ? 'n/a' : `${Math.round(value)} ms`);

/** "connection lost X after the fault, connected to the next node Y later", or why not. */
function failover(lost: number | null, connected: number | null, faultAt: number): string {
  if (lost === null || connected === null) return 'no fail-over logged';
  return `connection lost ${ms(lost - faultAt)} after the fault, connected to the next node ${ms(connected - lost)} later`;
}

/** The producer's publishing connection around a fault at `faultAt`, from its timed log. */
export function producerFailover(lines: readonly TimedLine[], faultAt: number): string {
  return failover(timedLineAt(lines, / publish connection lost /, faultAt), timedLineAt(lines, /connected \(publish\)$/, faultAt), faultAt);
}

/** The worker's consuming connection around a fault at `faultAt`, from its log. */
export function workerFailover(worker: RunningProcess, faultAt: number): string {
  const output = worker.output();
  return failover(loggedAt(output, / consume connection lost /, faultAt), loggedAt(output, /connected \(consume\)/, faultAt), faultAt);
}

/** The longest gap between `since` and the times after it, in order (0 when there are none). */
function longestGap(times: Iterable<number>, since: number): number {
  const after = [...times].filter((at) => at >= since).sort((a, b) => a - b);
  let longest = 0;
  let previous = since;
  for (const at of after) {
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return longest;
}

/**
 * The longest time without a task start, from `since` to the last start in the ledger: how long
 * work stood still around a fault. Runs lost with a killed worker leave no line, and do not count.
 */
export function longestPause(workload: Workload, since: number): number {
  return longestGap(
    workload.executions().map((run) => run.started),
    since,
  );
}

/** The longest time without a send confirmed, from `since` to the last confirm. */
export function longestConfirmPause(workload: Workload, since: number): number {
  return longestGap(workload.confirmedAt.values(), since);
}
