import { Redis } from 'ioredis';
import type { TaskContext } from '../../lib/index.js';
import { app } from './reliability-app.js';

/**
 * The reliability app (spec/support/reliability-app.ts) plus a task that counts its runs in
 * Redis, for the specs of outcomes that cannot be passed on (spec/reliability/bad-input-outcome
 * and embed-fuzz). Configured by environment as the reliability app, and:
 *   OUTCOME_RUNS_PREFIX — `out.counted` INCRs `<prefix>:<task id>` on every run.
 * Creating it does no I/O (the Redis client connects on the first run).
 */
export const OUTCOME_APP = new URL('./outcome-app.js', import.meta.url).pathname;

let redis: Redis | undefined;

/** Counts its run, then returns `n` — or throws when `fail` is true (its errbacks then run). */
export const counted = app.task('out.counted', async function (this: TaskContext, n: unknown, fail?: unknown) {
  redis ??= new Redis(process.env.CELERIAC_RESULT_BACKEND ?? 'redis://127.0.0.1:6379/0', { lazyConnect: false });
  await redis.incr(`${process.env.OUTCOME_RUNS_PREFIX ?? 'spec.outcome-runs'}:${this.id}`);
  if (fail === true) throw new Error(`out.counted fails on purpose (n = ${String(n)})`);
  return n;
});

export default app;
