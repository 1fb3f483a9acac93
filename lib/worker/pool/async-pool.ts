import { executeTask } from '../executor.js';
import { withTimeLimits } from '../time-limits.js';
import type { PoolJob, TaskPool } from './pool.js';

/** Runs tasks in the worker's own event loop (the default pool). See TaskPool for its guarantees. */
export class AsyncPool implements TaskPool {
  readonly kind = 'async' as const;

  run(job: PoolJob): Promise<unknown> {
    // Every path handles the run's rejection, also one that comes after a hard limit or a
    // terminate gave it up: withTimeLimits and TaskRequest.execute both subscribe to it.
    return withTimeLimits(executeTask(job.task, job.args, job.kwargs, job.context), job.limits, job);
  }

  async close(): Promise<void> {}
}
