import { SoftTimeLimitExceeded, ThreadPoolError, TimeLimitExceeded, type ThreadPoolFailure } from '../../errors/errors.js';
import { Retry, type RetryOptions } from '../../errors/signals.js';

/**
 * Messages between the threads pool and its threads. Everything crossing is structured-clone
 * data: errors travel as SerializedError and are rebuilt on the other side (name, message,
 * stack kept; a Retry signal stays a Retry, and the pool's and time limits' own errors are
 * rebuilt as their classes).
 */

/** The parts of a TaskContext a thread can rebuild (signal, logger and retry are made there). */
export interface ContextData {
  id: string;
  name: string;
  retries: number;
  hostname: string;
  rootId: string;
  parentId: string | null;
  groupId: string | null;
  queue: string;
  redelivered: boolean;
}

export type ToThread =
  | { type: 'run'; job: number; context: ContextData; args: readonly unknown[]; kwargs: Readonly<Record<string, unknown>> }
  | { type: 'abort'; job: number; reason: SerializedError };

/** Every `done` carries `heapUsed`: the thread's heap in bytes after the job (for max-memory-per-child). */
export type FromThread =
  | { type: 'ready' }
  | { type: 'boot-failed'; error: SerializedError }
  | { type: 'done'; job: number; heapUsed: number; ok: true; value: unknown }
  /** The task returned a value that cannot be stored or passed out of the thread (see UnpassableResult). */
  | { type: 'done'; job: number; heapUsed: number; ok: true; unpassable: string }
  | { type: 'done'; job: number; heapUsed: number; ok: false; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** For a Retry signal: its options, with `exc` serialized and `eta` as epoch ms. */
  retry?: { countdown?: number | string; eta?: number; maxRetries?: number | null; exc?: SerializedError };
  limitMs?: number;
  /** A ThreadPoolError's reason. */
  threadPoolFailure?: ThreadPoolFailure;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Retry) {
    const { countdown, eta, maxRetries, exc } = error.options;
    const retry: NonNullable<SerializedError['retry']> = {};
    if (countdown !== undefined) retry.countdown = countdown;
    if (eta !== undefined) retry.eta = eta.getTime();
    if (maxRetries !== undefined) retry.maxRetries = maxRetries;
    if (exc !== undefined) retry.exc = serializeError(exc);
    return { name: 'Retry', message: error.message, retry };
  }
  if (error instanceof Error) {
    const serialized: SerializedError = { name: error.name, message: error.message };
    if (error.stack) serialized.stack = error.stack;
    const limitMs = (error as { limitMs?: unknown }).limitMs;
    if (typeof limitMs === 'number') serialized.limitMs = limitMs;
    if (error instanceof ThreadPoolError) serialized.threadPoolFailure = error.reason;
    return serialized;
  }
  return { name: 'Error', message: String(error) };
}

export function deserializeError(data: SerializedError): Error {
  if (data.retry) {
    const options: RetryOptions = {};
    if (data.retry.countdown !== undefined) options.countdown = data.retry.countdown;
    if (data.retry.eta !== undefined) options.eta = new Date(data.retry.eta);
    if (data.retry.maxRetries !== undefined) options.maxRetries = data.retry.maxRetries;
    if (data.retry.exc) options.exc = deserializeError(data.retry.exc);
    return new Retry(options);
  }
  let error: Error;
  if (data.name === 'SoftTimeLimitExceeded') error = new SoftTimeLimitExceeded(data.limitMs ?? 0);
  else if (data.name === 'TimeLimitExceeded') error = new TimeLimitExceeded(data.limitMs ?? 0);
  else if (data.name === 'ThreadPoolError' && data.threadPoolFailure) error = new ThreadPoolError(data.threadPoolFailure, data.message);
  else {
    error = new Error(data.message);
    error.name = data.name;
  }
  if (data.stack) error.stack = data.stack;
  return error;
}
