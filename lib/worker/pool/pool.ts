import type { Task } from '../../app/task.js';
import type { TaskContext } from '../../app/task-context.js';
import type { TimeLimits } from '../time-limits.js';

/** One task run handed to a pool. */
export interface PoolJob {
  task: Task<never[]>;
  args: readonly unknown[];
  kwargs: Readonly<Record<string, unknown>>;
  context: TaskContext;
  /** The controller behind `context.signal`: aborted at the soft limit or on shutdown. */
  abort: AbortController;
  limits: TimeLimits;
}

/**
 * Where task code runs. Contract: `run` settles with the task's value (or an UnpassableResult
 * in its place) or what it threw, and
 * rejects with TimeLimitExceeded no later than the hard limit. The worker bounds how many jobs
 * run at once; a pool never queues on its own beyond that.
 *
 * - `async`: in the worker's event loop. A hard limit frees the slot and records the failure,
 *   but cannot stop code that ignores its signal (and a CPU-bound loop blocks the whole worker).
 * - `threads`: in worker_threads. A hard limit terminates the thread, so even a CPU-bound
 *   infinite loop is stopped; the thread is replaced.
 */
export interface TaskPool {
  readonly kind: 'async' | 'threads';
  run(job: PoolJob): Promise<unknown>;
  /** Stops idle resources (threads). Running jobs are the worker's business. */
  close(): Promise<void>;
  /** Follows a change of the worker's concurrency (a pool with a size limit adopts the new one). */
  resize?(size: number): void;
}

/**
 * The abort reason of a task given up by remote control (`revoke --terminate`): the async pool
 * stops waiting for it, the threads pool terminates its thread; it is recorded REVOKED.
 */
export class TaskTerminated extends Error {
  constructor(taskId: string) {
    super(`task ${taskId} terminated by revoke`);
    this.name = 'TaskTerminated';
  }
}

/**
 * What the threads pool hands back in place of a task's value that JSON cannot hold or that
 * cannot leave its thread (a class instance would arrive as a plain object). The run succeeded:
 * the request decides, as for the async pool's value, whether that matters — it fails the task
 * with a SerializationError only where the result is stored, and never retries it.
 */
export class UnpassableResult {
  constructor(
    /** Why the value cannot be stored, e.g. `a Point at result cannot be written as JSON`. */
    readonly problem: string,
  ) {}
}
