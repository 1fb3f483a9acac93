import { executeTask } from '../executor.js';
import { withTimeLimits } from '../time-limits.js';
import type { PoolJob, TaskPool } from './pool.js';

/** Runs tasks in the worker's own event loop (the default pool). See TaskPool for its guarantees. */
export class AsyncPool implements TaskPool {
  readonly kind = 'async' as const;

  run(job: PoolJob): Promise<unknown> {
    const running = executeTask(job.task, job.args, job.kwargs, job.context);
    // After a hard limit nobody awaits the run any more; its late failure must not be unhandled.
    running.catch(() => undefined);
    return withTimeLimits(running, job.limits, job.abort);
  }

  async close(): Promise<void> {}
}
