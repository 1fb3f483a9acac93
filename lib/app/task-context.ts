import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'winston';
import type { RetryOptions } from '../errors/signals.js';

/**
 * What a running task knows about itself. A task function receives it as `this`
 * (declare it: `function (this: TaskContext, x: number) { ... }`), and any code running
 * inside the task — also arrow functions — gets it from `currentTask()`.
 */
export interface TaskContext {
  /** The task id (also the message's correlation id and the result key). */
  readonly id: string;
  /** The registered task name. */
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** How many times this task has been retried before this run. */
  readonly retries: number;
  /** The worker's node name, e.g. 'celeriac@host'. */
  readonly hostname: string;
  readonly rootId: string;
  readonly parentId: string | null;
  readonly groupId: string | null;
  /** The queue the message came from. */
  readonly queue: string;
  /** True when the broker has delivered this message before (a worker died or lost its connection). */
  readonly redelivered: boolean;
  /**
   * Aborted when the task should stop: the worker is shutting down past its grace period, or a
   * time limit fired. Long tasks should pass it to fetch/streams or check `signal.aborted`.
   */
  readonly signal: AbortSignal;
  /** A logger whose lines carry the task name and id. */
  readonly logger: Logger;
  /**
   * Runs this task again later (Celery's `self.retry`): throws a Retry signal — let it
   * propagate (`throw this.retry(...)` reads well). The same message (id, arguments, workflow)
   * is re-published with `retries` + 1 after `countdown`/`eta` (default: the task's
   * `defaultRetryDelay`); the state is RETRY meanwhile. Past `maxRetries` the task fails with
   * `exc` (or MaxRetriesExceededError) instead.
   */
  retry(options?: RetryOptions): never;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running in this async call chain, or undefined outside tasks. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `context` as currentTask() for everything it awaits. */
export function runWithContext<T>(context: TaskContext, fn: () => T): T {
  return storage.run(context, fn);
}
