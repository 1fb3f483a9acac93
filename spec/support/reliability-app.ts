import { appendFileSync } from 'node:fs';
import { BackendError, createApp, once, type TaskContext } from '../../lib/index.js';

/**
 * The app of the fault-injection specs (spec/reliability), loaded by `celeriac worker -A` in
 * worker processes and imported by the spec itself to send. Configured by environment:
 *   CELERIAC_BROKER_URL, CELERIAC_RESULT_BACKEND — as for any app;
 *   RELIABILITY_QUEUE      — the default queue (one per test);
 *   RELIABILITY_QUEUE_TYPE — 'quorum' to declare it a quorum queue (default classic);
 *   RELIABILITY_HEARTBEAT  — AMQP heartbeat in seconds (short, so stalls are noticed quickly);
 *   RELIABILITY_LEDGER     — a file every finished run appends one line to (see ExecutionRecord);
 *   RELIABILITY_EFFECTS    — a file `rel.effect` appends one line to per effect done (see EffectRecord).
 * Creating it does no I/O.
 */
const queue = process.env.RELIABILITY_QUEUE ?? 'spec.reliability';

export const app = createApp({
  name: 'reliability',
  defaultQueue: queue,
  ...(process.env.RELIABILITY_QUEUE_TYPE === 'quorum' ? { queues: { [queue]: { type: 'quorum' } } } : {}),
  heartbeat: Number(process.env.RELIABILITY_HEARTBEAT ?? 30) * 1000,
  brokerConnectionMaxRetries: null,
  brokerConnectionMaxDelay: '2s',
  logLevel: 'silent',
});

/** One line of the execution ledger: a run of `rel.work` whose code finished. */
export interface ExecutionRecord {
  n: number;
  id: string;
  pid: number;
  /** The delivery was seen before (broker flag, or a counted redelivery). */
  redelivered: boolean;
  /** When the code started and finished (ms since the epoch). */
  started: number;
  at: number;
  /** `rel.effect` only: the pid of the process that did the task's effect (another one when this run skipped it). */
  effectBy?: number;
}

/** One line of the effects file: `rel.effect`'s side effect, done for task `id`. */
export interface EffectRecord {
  id: string;
  n: number;
  pid: number;
  /** Date.now() when the effect was done. */
  at: number;
}

/**
 * Appends the record synchronously, before the worker stores the result and acks: a run that
 * is in the ledger finished its code; a worker killed later makes it run again (a duplicate),
 * never a gap.
 */
function record(context: TaskContext, n: number, started: number, effectBy?: number): void {
  const ledger = process.env.RELIABILITY_LEDGER;
  if (!ledger) return;
  const entry: ExecutionRecord = {
    n,
    id: context.id,
    pid: process.pid,
    redelivered: context.redelivered,
    started,
    at: Date.now(),
    ...(effectBy === undefined ? {} : { effectBy }),
  };
  appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
}

/** The workload: task n sleeps `ms`, records its run and returns n. */
export const work = app.task('rel.work', async function (this: TaskContext, n: number, ms: number) {
  const started = Date.now();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  record(this, n, started);
  return n;
});

/**
 * A task with a side effect made exactly-once by `once()`: the effect (one line appended to the
 * effects file) comes first, then the task sleeps `ms` — the window in which a SIGKILL makes the
 * task run again after its effect — then records its run like `rel.work`. When Redis is down
 * `once()` cannot take its claim (BackendError, nothing done): the task retries later.
 */
export const effect = app.task(
  'rel.effect',
  async function (this: TaskContext, n: number, ms: number) {
    const started = Date.now();
    const effectBy = await once(
      app,
      'append',
      () => {
        const line: EffectRecord = { id: this.id, n, pid: process.pid, at: Date.now() };
        appendFileSync(process.env.RELIABILITY_EFFECTS!, `${JSON.stringify(line)}\n`);
        return process.pid;
      },
      { ttl: '3s' },
    );
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    record(this, n, started, effectBy);
    return n;
  },
  { autoretryFor: [BackendError], retryBackoff: '500ms', retryBackoffMax: '5s', maxRetries: null },
); // Redis unreachable: the claim cannot be taken; try later

/** Kills the worker process that runs it, every time. */
export const poison = app.task('rel.poison', function (this: TaskContext, n: number) {
  record(this, n, Date.now());
  process.kill(process.pid, 'SIGKILL');
});

/** Refuses arguments that are not numbers (TypeError): a task that rejects its input. */
export const picky = app.task('rel.picky', (x: number) => {
  if (typeof x !== 'number') throw new TypeError(`rel.picky wants a number, got ${typeof x}`);
  return x * 2;
});

/** Returns a Map, which JSON cannot hold: must be recorded as a FAILURE, never as `{}`. */
export const returnsMap = app.task('rel.returns-map', (n: number) => new Map([['n', n]]));

/** A chord header part: returns n. Not in the ledger (the checker's books are rel.work's); its chord's body proves it ran. */
export const part = app.task('rel.part', (n: number) => n);

/** A chord body: the sum of the header's results, in header order. */
export const sum = app.task('rel.sum', (values: number[]) => values.reduce((total, value) => total + value, 0));

export default app;
