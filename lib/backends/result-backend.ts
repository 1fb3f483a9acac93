import type { TaskState } from '../protocol/states.js';

/**
 * A task's stored outcome, in exactly the shape Celery's key-value backends store
 * (see shared vectors: `celery-task-meta-<id>` values). Field names are Celery's.
 */
export interface TaskMeta {
  status: TaskState;
  /** The return value on SUCCESS; an ExceptionInfo on FAILURE/REVOKED/RETRY; null while pending. */
  result: unknown;
  traceback: string | null;
  children: unknown[];
  /** ISO 8601 without zone (UTC), as Celery writes it; null for non-ready states. */
  date_done: string | null;
  task_id: string;
  parent_id?: string | null;
  group_id?: string | null;
}

/** How Celery encodes an exception in a result: Python's class name, message args and module. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[] | string;
  exc_module: string | null;
}

/** What the producer of the message asked for, so that backends replying by message (rpc) can route. */
export interface StoreContext {
  replyTo?: string;
  correlationId?: string;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The contract of a result backend. spec/conformance runs the same checks against each one.
 *
 * - `storeResult` resolves only when the outcome is durably recorded (worker acks after it).
 * - `getMeta` of an unknown id is `{ status: 'PENDING', result: null, ... }`, never an error.
 * - `waitForReady` resolves with the first meta in a READY state (SUCCESS, FAILURE, REVOKED);
 *   it waits by subscription or reply, never by polling; rejects with ResultTimeoutError after
 *   `timeoutMs`, or with the signal's reason when aborted. It resolves at once when already ready.
 * - `forget` removes the stored outcome; afterwards the id reads PENDING.
 */
export interface ResultBackend {
  /** The backend URL with the password hidden. */
  readonly url: string;
  storeResult(meta: TaskMeta, context: StoreContext): Promise<void>;
  getMeta(taskId: string): Promise<TaskMeta>;
  waitForReady(taskId: string, options: WaitOptions): Promise<TaskMeta>;
  forget(taskId: string): Promise<void>;
  /** Closes connections; pending waits reject with ClosedError. Idempotent. */
  close(): Promise<void>;
}

export interface BackendOptions {
  /** How long stored results live, ms; 0 = forever. Default one day (Celery's result_expires). */
  resultExpiresMs: number;
  logger: import('winston').Logger;
}

export function pendingMeta(taskId: string): TaskMeta {
  return { status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}
