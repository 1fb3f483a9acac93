/** Task metas as Celery's key-value backends store them: JSON with Celery's key order. */
import { celeryUtcNow } from '../protocol/dates.js';
import { stringifyJson } from '../protocol/serializers.js';
import { SerializationError } from '../errors/errors.js';
import { isReady, type TaskState } from '../protocol/states.js';
import type { TaskMeta } from '../protocol/task-meta.js';

/**
 * The JSON Celery 5.2 writes for a task meta: keys in the order status, result, traceback,
 * children, date_done, [group_id], [parent_id], task_id (`_get_result_meta` then `_store_result`);
 * group_id/parent_id only when set. A ready state without date_done gets the current UTC time in
 * Python's `datetime.isoformat()` form, as Celery stamps it.
 */
export function encodeMeta(meta: TaskMeta): string {
  const out: Record<string, unknown> = {
    status: meta.status,
    result: meta.result === undefined ? null : meta.result,
    traceback: meta.traceback ?? null,
    children: meta.children ?? [],
    date_done: meta.date_done ?? (isReady(meta.status) ? celeryUtcNow() : null),
  };
  if (meta.group_id) out.group_id = meta.group_id;
  if (meta.parent_id) out.parent_id = meta.parent_id;
  out.task_id = meta.task_id;
  try {
    return stringifyJson(out);
  } catch (err) {
    throw new SerializationError(`result of task ${meta.task_id} is not JSON-serializable: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/**
 * Parses a stored value. Missing or null fields take their PENDING defaults (Celery writes
 * `children: null` outside a worker); a kombu-wrapped date (`{"__type__": "datetime",
 * "__value__": ...}`) is unwrapped; extended-result fields (name, args, ...) are dropped.
 * Throws when the value is not JSON or has no string `status`.
 */
export function decodeMeta(taskId: string, raw: string): TaskMeta {
  const value: unknown = JSON.parse(raw);
  if (!isRecord(value) || typeof value.status !== 'string') throw new Error('not a task meta object');
  const meta: TaskMeta = {
    status: value.status as TaskState,
    result: value.result ?? null,
    traceback: typeof value.traceback === 'string' ? value.traceback : null,
    children: Array.isArray(value.children) ? value.children : [],
    date_done: dateOf(value.date_done),
    task_id: typeof value.task_id === 'string' ? value.task_id : taskId,
  };
  if (typeof value.parent_id === 'string') meta.parent_id = value.parent_id;
  if (typeof value.group_id === 'string') meta.group_id = value.group_id;
  return meta;
}

/** The status of a stored value, or undefined when it cannot be read (it is then overwritten). */
export function storedStatus(raw: string): string | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return isRecord(value) && typeof value.status === 'string' ? value.status : undefined;
  } catch {
    return undefined;
  }
}

function dateOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.__value__ === 'string') return value.__value__;
  return null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
