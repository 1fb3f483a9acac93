import { Writable } from 'node:stream';
import amqp from 'amqplib';
import winston from 'winston';
import { chord, Signature, type App } from '../../lib/index.js';
import type { RabbitCluster } from './rabbit-cluster.js';
import type { RabbitNode } from './rabbit-node.js';
import type { Workload } from './loss-checker.js';
import type { RunningProcess } from './processes.js';

/**
 * What the cluster fault specs (spec/cluster) add to the loss checker: chords in flight beside
 * the plain tasks, which node a client is on, and the figures of a fail-over (when it was
 * noticed, when work went on).
 */

/** A logger whose lines are kept with the time each was written, to time what a producer logged. */
export function timedLogger(): { logger: winston.Logger; lines: { at: number; line: string }[] } {
  const lines: { at: number; line: string }[] = [];
  const stream = new Writable({
    objectMode: true,
    write(info: { level: string; message: string }, _encoding, done) {
      lines.push({ at: Date.now(), line: `${info.level}: ${info.message}` });
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'info', transports: [new winston.transports.Stream({ stream })] }), lines };
}

const CONNECTED = /broker amqp:\/\/[^@\s]*@127\.0\.0\.1:(\d+) connected \((consume|publish)\)/g;

/** The AMQP port of the node each role is connected to, as the latest "connected" lines in `text` say. */
export function connectedPorts(text: string): { consume?: number; publish?: number } {
  const ports: { consume?: number; publish?: number } = {};
  for (const match of text.matchAll(CONNECTED)) ports[match[2] as 'consume' | 'publish'] = Number(match[1]);
  return ports;
}

/** How many "connected (role)" lines `text` holds. */
export function connectedCount(text: string, role: 'consume' | 'publish'): number {
  return [...text.matchAll(CONNECTED)].filter((match) => match[2] === role).length;
}

/**
 * Declares `queue` a quorum queue through `node`, so that node leads it (RabbitMQ 3.10 places
 * a new quorum queue's leader on the node the declaring client is connected to). The arguments
 * are celeriac's for `type: 'quorum'`, so the producer's and workers' declarations match.
 */
export async function declareQuorumQueueOn(node: RabbitNode, queue: string): Promise<void> {
  const connection = await amqp.connect(node.url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  } finally {
    await connection.close();
  }
}

/** Waits until `cluster` reports a leader for `queue` other than `old`; resolves with it. */
export async function newLeader(cluster: RabbitCluster, queue: string, old: RabbitNode, timeoutMs = 60_000): Promise<RabbitNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await cluster.leaderOf(queue).catch(() => null);
    if (leader && leader !== old) return leader;
    if (Date.now() > deadline) throw new Error(`no new leader for ${queue} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface ChordLoad {
  attempted: number;
  /** Chords whose send resolved (the broker confirmed every header task). */
  sent: number;
  /** Chords whose send rejected: the caller saw the error. */
  failedToSend: number;
  /** Sent chords whose body's result arrived with the right sum. */
  completed: number;
  /** Sent chords with no (or a wrong) body result in time: must be none. */
  lost: string[];
}

/**
 * Sends chords of `size` `rel.part` tasks with a `rel.sum` body (reliability-app.ts), `inFlight`
 * at a time, each waiting for its body's result (Redis) once sent, until `done()` says so and at
 * least `min` were attempted.
 */
export async function runChords(producer: App, size: number, min: number, done: () => boolean, inFlight = 4): Promise<ChordLoad> {
  const load: ChordLoad = { attempted: 0, sent: 0, failedToSend: 0, completed: 0, lost: [] };
  const lane = async (): Promise<void> => {
    while (load.attempted < min || !done()) {
      const base = load.attempted++ * size;
      const parts = Array.from({ length: size }, (_, i) => new Signature({ task: 'rel.part', args: [base + i] }, producer));
      const expected = parts.reduce((total, _, i) => total + base + i, 0);
      let result;
      try {
        result = await chord(parts, new Signature<number>({ task: 'rel.sum' }, producer)).applyAsync();
      } catch {
        load.failedToSend += 1;
        continue;
      }
      load.sent += 1;
      try {
        const value = await result.get({ timeout: 120_000 });
        if (value === expected) load.completed += 1;
        else load.lost.push(`${result.id}: sum ${String(value)}, expected ${expected}`);
      } catch (error) {
        load.lost.push(`${result.id}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return load;
}

/**
 * `rel.work` tasks sent in batches of `batch` (each batch sent at once, the next when every send
 * of it settled) until `done()` says so and at least `min` were attempted: a load that goes on
 * through a fault, however long the fault takes to land.
 */
export async function sendUntil(workload: Workload, batch: number, min: number, done: () => boolean): Promise<void> {
  while (workload.attempted.size < min || !done()) await workload.send(batch, 2, batch);
}

/**
 * The longest time without a task start, from `since` to the last start in the ledger: how long
 * work stood still around a fault. Runs lost with a killed worker leave no line, and do not count.
 */
export function longestPause(workload: Workload, since: number): number {
  const starts = workload
    .executions()
    .map((run) => run.started)
    .filter((at) => at >= since)
    .sort((a, b) => a - b);
  let longest = 0;
  let previous = since;
  for (const at of starts) {
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return longest;
}

/** The longest time without a send confirmed, from `since` to the last confirm. */
export function longestConfirmPause(workload: Workload, since: number): number {
  const confirms = [...workload.confirmedAt.values()].filter((at) => at >= since).sort((a, b) => a - b);
  let longest = 0;
  let previous = since;
  for (const at of confirms) {
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return longest;
}

/**
 * When the first line of `output` (a worker's log: `[YYYY-MM-DD HH:mm:ss,SSS: LEVEL/who] message`,
 * local time) at or after `since` matches `pattern`, in ms since the epoch; null if none does.
 */
export function loggedAt(output: string, pattern: RegExp, since: number): number | null {
  for (const line of output.split('\n')) {
    const stamp = /^\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}):/.exec(line);
    if (!stamp || !pattern.test(line)) continue;
    const at = new Date(`${stamp[1]}T${stamp[2]}.${stamp[3]}`).getTime();
    // The log's clock has millisecond steps; a line written in the same millisecond counts.
    if (at >= since - 1) return at;
  }
  return null;
}

/** Resolves with Date.now() when `worker` logged one more "connected (role)" line than `before`. */
export async function reconnectedAt(
  worker: RunningProcess,
  role: 'consume' | 'publish',
  before: number,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (connectedCount(worker.output(), role) <= before) {
    if (Date.now() > deadline) throw new Error(`the worker did not reconnect (${role}) within ${timeoutMs} ms:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now();
}
