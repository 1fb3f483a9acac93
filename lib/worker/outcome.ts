import { celeryUtcNow } from '../protocol/dates.js';
import type { TaskMeta } from '../protocol/task-meta.js';
import { errorToExceptionInfo, tracebackOf } from '../protocol/exception-info.js';
import type { TaskHeaders } from '../protocol/task-message.js';
import type { TaskState } from '../protocol/states.js';

function baseMeta(headers: TaskHeaders, status: TaskState, result: unknown, traceback: string | null): TaskMeta {
  const meta: TaskMeta = { status, result, traceback, children: [], date_done: celeryUtcNow(), task_id: headers.id };
  if (headers.parent_id) meta.parent_id = headers.parent_id;
  if (headers.group) meta.group_id = headers.group;
  return meta;
}

export function successMeta(headers: TaskHeaders, result: unknown): TaskMeta {
  return baseMeta(headers, 'SUCCESS', result === undefined ? null : result, null);
}

export function failureMeta(headers: TaskHeaders, error: unknown): TaskMeta {
  return baseMeta(headers, 'FAILURE', errorToExceptionInfo(error), tracebackOf(error));
}

/** A run that will be retried: RETRY with the error that caused it, as Celery records it. */
export function retryMeta(headers: TaskHeaders, error: unknown): TaskMeta {
  return baseMeta(headers, 'RETRY', errorToExceptionInfo(error), tracebackOf(error));
}

/** A task that expired before it started: REVOKED, as Celery records it. */
export function revokedMeta(headers: TaskHeaders, why: string): TaskMeta {
  return baseMeta(headers, 'REVOKED', { exc_type: 'TaskRevokedError', exc_message: [why], exc_module: 'celery.exceptions' }, null);
}
