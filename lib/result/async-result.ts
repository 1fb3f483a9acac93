import type { ResultBackend } from '../backends/result-backend.js';
import type { TaskMeta } from '../protocol/task-meta.js';
import type { ResultHandle } from './result-handle.js';
import { TaskFailedError } from '../errors/errors.js';
import { exceptionMessage, isExceptionInfo } from '../protocol/exception-info.js';
import { PROPAGATE_STATES, READY_STATES, type TaskState } from '../protocol/states.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { preview } from '../util/preview.js';
import { MAX_ERROR_MESSAGE_CHARS } from '../util/truncate.js';

export interface GetOptions {
  /** How long to wait for a final state; default: no limit. */
  timeout?: Duration;
  /** Default true: FAILURE/REVOKED reject with TaskFailedError. False resolves with the stored error info. */
  propagate?: boolean;
  signal?: AbortSignal;
}

/**
 * A handle on a task's outcome in the result backend. Cheap to create: it holds only the id;
 * every read goes to the backend (there is no local cache that could go stale).
 */
export class AsyncResult<R = unknown> implements ResultHandle<R> {
  constructor(
    readonly id: string,
    private readonly backend: () => ResultBackend,
    /** The result of the step before this one in a chain (or a chord's header), if any. */
    readonly parent: ResultHandle | null = null,
  ) {}

  /**
   * Waits for SUCCESS and returns the value. Rejects with TaskFailedError (state FAILURE or
   * REVOKED, with the remote type, message and traceback) unless `propagate` is false, and
   * with ResultTimeoutError after `timeout`.
   */
  get(options: GetOptions = {}): Promise<R> {
    return this.getWhileSending(options, undefined);
  }

  /**
   * get() for a task this process is still sending: `sending` settles once the broker confirmed
   * or refused the message (see WaitOptions.sending; SentTask.get uses it).
   */
  getWhileSending(options: GetOptions, sending: Promise<unknown> | undefined): Promise<R> {
    // The backend's own promise, mapped by it (WaitOptions.map): not an async function, nor a
    // then of its own, since thousands of waits may be pending at once and each would hold a
    // frame, or a promise and a reaction. Without a timeout the backend sets no timer: the wait
    // ends with the outcome, the signal, or the backend's close.
    try {
      const timeoutMs = options.timeout === undefined ? Infinity : toMilliseconds(options.timeout, 'timeout');
      const map = (options.propagate === false ? valueOf : valueOrFailure) as (meta: TaskMeta) => R;
      return this.backend().waitForReady(this.id, { timeoutMs, signal: options.signal, sending, map });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The current state; PENDING when unknown (Celery cannot tell "queued" from "unknown id"). */
  get state(): Promise<TaskState> {
    return this.backend()
      .getMeta(this.id)
      .then((meta) => meta.status);
  }

  /** The stored meta as the backend has it: status, result, traceback, date_done, ... */
  meta(): Promise<TaskMeta> {
    return this.backend().getMeta(this.id);
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state);
  }

  async successful(): Promise<boolean> {
    return (await this.state) === 'SUCCESS';
  }

  async failed(): Promise<boolean> {
    return (await this.state) === 'FAILURE';
  }

  /** Removes the stored outcome; the id reads PENDING afterwards. */
  forget(): Promise<void> {
    return this.backend().forget(this.id);
  }

  toJSON(): string {
    return this.id;
  }

  toString(): string {
    return this.id;
  }
}

/** The stored value, whatever the state (get with `propagate: false`). */
function valueOf(meta: TaskMeta): unknown {
  return meta.result;
}

/** The stored value of a SUCCESS; a FAILURE or REVOKED rejects with its TaskFailedError. */
function valueOrFailure(meta: TaskMeta): unknown {
  if (PROPAGATE_STATES.has(meta.status)) throw failureOf(meta);
  return meta.result;
}

/** The error a FAILURE or REVOKED meta stands for. */
export function failureOf(meta: TaskMeta): TaskFailedError {
  const state = meta.status === 'REVOKED' ? 'REVOKED' : 'FAILURE';
  if (isExceptionInfo(meta.result)) {
    return new TaskFailedError(
      meta.task_id,
      state,
      meta.result.exc_type,
      exceptionMessage(meta.result),
      meta.result.exc_module ?? null,
      meta.traceback,
    );
  }
  return new TaskFailedError(
    meta.task_id,
    state,
    state === 'REVOKED' ? 'TaskRevokedError' : 'Error',
    typeof meta.result === 'string' ? meta.result : meta.result == null ? state : preview(meta.result, MAX_ERROR_MESSAGE_CHARS),
    null,
    meta.traceback,
  );
}
