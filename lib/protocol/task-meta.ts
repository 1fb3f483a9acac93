import type { TaskState } from './states.js';

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
