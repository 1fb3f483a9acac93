import { appendFileSync } from 'node:fs';
import { createApp, type TaskContext } from '../../lib/index.js';
import type { ExecutionRecord } from './reliability-app.js';

/**
 * The app of spec/cluster/redis-sentinel.test.ts, loaded by `celeriac worker -A` in worker
 * processes and imported by the spec to send. Configured by environment:
 *   CELERIAC_BROKER_URL, CELERIAC_RESULT_BACKEND — as for any app (the backend a sentinel:// list);
 *   SENTINEL_PASSWORD      — the sentinels' password (resultBackendTransportOptions, Celery's spelling);
 *   SENTINEL_WAIT_REPLICAS — when set, resultBackendWaitForReplicas with that many replicas and
 *                            SENTINEL_WAIT_TIMEOUT (default '500ms');
 *   RELIABILITY_QUEUE, RELIABILITY_LEDGER, RELIABILITY_HEARTBEAT — as in reliability-app.ts;
 *   SENTINEL_CHORD_LEDGER  — a file every run of a chord body appends one line to (see ChordBodyRecord).
 * Creating it does no I/O.
 */
const waitReplicas = process.env.SENTINEL_WAIT_REPLICAS;

export const app = createApp({
  name: 'sentinel',
  defaultQueue: process.env.RELIABILITY_QUEUE ?? 'spec.sentinel',
  heartbeat: Number(process.env.RELIABILITY_HEARTBEAT ?? 30) * 1000,
  brokerConnectionMaxRetries: null,
  brokerConnectionMaxDelay: '2s',
  logLevel: 'silent',
  ...(process.env.SENTINEL_PASSWORD
    ? { resultBackendTransportOptions: { sentinel_kwargs: { password: process.env.SENTINEL_PASSWORD } } }
    : {}),
  ...(waitReplicas
    ? { resultBackendWaitForReplicas: { replicas: Number(waitReplicas), timeout: process.env.SENTINEL_WAIT_TIMEOUT ?? '500ms' } }
    : {}),
});

/** One line of the chord ledger: a run of a chord body that finished. */
export interface ChordBodyRecord {
  /** The body's task id (what the producer waits for). */
  id: string;
  sum: number;
  pid: number;
}

/** The workload of the loss checker (spec/support/loss-checker.ts): task n sleeps `ms`, records its run, returns n. */
export const work = app.task('rel.work', async function (this: TaskContext, n: number, ms: number) {
  const started = Date.now();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  const ledger = process.env.RELIABILITY_LEDGER;
  if (ledger) {
    const entry: ExecutionRecord = { n, id: this.id, pid: process.pid, redelivered: this.redelivered, started, at: Date.now() };
    appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
  }
  return n;
});

/** A chord header task: returns n after `ms`. */
export const part = app.task('sentinel.part', async (n: number, ms: number) => {
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  return n;
});

/** A chord body: the sum of the header's results, each run recorded in the chord ledger. */
export const sum = app.task('sentinel.sum', function (this: TaskContext, values: number[]) {
  const total = values.reduce((a, b) => a + b, 0);
  const ledger = process.env.SENTINEL_CHORD_LEDGER;
  if (ledger) {
    const entry: ChordBodyRecord = { id: this.id, sum: total, pid: process.pid };
    appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
  }
  return total;
});

export default app;
