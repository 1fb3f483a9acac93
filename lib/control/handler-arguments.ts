import { MAX_ROUTE_NAME_BYTES } from '../broker/route-names.js';
import { describeType } from './control-request.js';

/**
 * Readers for a control command's arguments, which come from any broker publisher. Each
 * returns the value when it has the expected type and size, or throws an ArgumentError naming
 * the argument, which the node answers as Celery's `{error}` reply.
 */
export class ArgumentError extends Error {
  constructor(
    readonly argument: string,
    expected: string,
    got: unknown,
  ) {
    super(`argument ${argument}: expected ${expected}, got ${describeType(got)}`);
    this.name = 'ArgumentError';
  }
}

// Queue names, task names and task ids are all held to the AMQP short-string size of route names.

/** Most task ids one revoke may carry. */
export const MAX_REVOKE_IDS = 10_000;

/** A queue name: a non-empty string of at most 255 bytes, not in the broker's reserved `amq.` space. */
export function queueArgument(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  const expected = `a queue name (a non-empty string of at most ${MAX_ROUTE_NAME_BYTES} bytes, not starting with 'amq.')`;
  if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > MAX_ROUTE_NAME_BYTES || value.startsWith('amq.')) {
    throw new ArgumentError(name, expected, value);
  }
  return value;
}

/** A task name: a non-empty string of at most 255 bytes. */
export function taskNameArgument(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > MAX_ROUTE_NAME_BYTES) {
    throw new ArgumentError(name, `a task name (a non-empty string of at most ${MAX_ROUTE_NAME_BYTES} bytes)`, value);
  }
  return value;
}

/** One task id or a list of them (Celery sends either): non-empty strings, at most MAX_REVOKE_IDS. */
export function taskIdsArgument(args: Record<string, unknown>, name: string): string[] {
  const value = args[name];
  const ids = Array.isArray(value) ? value : [value];
  const expected = `a task id or a list of at most ${MAX_REVOKE_IDS} (non-empty strings of at most ${MAX_ROUTE_NAME_BYTES} bytes)`;
  if (ids.length === 0 || ids.length > MAX_REVOKE_IDS) throw new ArgumentError(name, expected, value);
  for (const id of ids) {
    if (typeof id !== 'string' || id === '' || Buffer.byteLength(id) > MAX_ROUTE_NAME_BYTES) throw new ArgumentError(name, expected, value);
  }
  return ids as string[];
}

/**
 * An optional flag: true, false, 1, 0, or absent/null (= `fallback`). Celery reads the flag by
 * its truth, and Flower sends 1 and 0 (its `terminate=true` query parameter goes through strtobool).
 */
export function booleanArgument(args: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = args[name];
  if (value === undefined || value === null) return fallback;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== 'boolean') throw new ArgumentError(name, 'true, false, 1, 0 or null', value);
  return value;
}

/** An optional signal name such as 'SIGTERM' (kept for Celery's revoke/terminate; the worker ends tasks its own way). */
export function signalArgument(args: Record<string, unknown>, name: string): string | null {
  const value = args[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !/^(SIG)?[A-Z0-9]{1,12}$/i.test(value))
    throw new ArgumentError(name, "a signal name such as 'SIGTERM', or null", value);
  return value;
}

/**
 * A rate such as '100/s', a number per second — as a number or as its text ('5', which Flower's
 * rate limit field sends; Celery reads a rate without a unit as per second) — or null / 0 / ''
 * (no limit); parsed by the caller.
 */
export function rateArgument(args: Record<string, unknown>, name: string): string | number | null {
  const value = args[name];
  if (value === undefined || value === null || value === '' || value === 0) return null;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value) === 0 ? null : Number(value);
  if (typeof value === 'string' && value.length <= 32) return value;
  throw new ArgumentError(name, "a rate such as '100/s', '10/m' or '1000/h', or null", value);
}

/** Largest pool size or change of it that a command may ask for. */
export const MAX_POOL_SIZE = 10_000;

/** An optional count such as pool_grow's n: an integer from `least` (1) to MAX_POOL_SIZE, or absent/null (= `fallback`). */
export function countArgument(args: Record<string, unknown>, name: string, fallback: number, least = 1): number {
  const value = args[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least || value > MAX_POOL_SIZE) {
    throw new ArgumentError(name, `an integer from ${least} to ${MAX_POOL_SIZE}, or null`, value);
  }
  return value;
}

/** An optional number of seconds (a finite number ≥ 0, or its decimal text as Celery's CLI may send), or absent/null. */
export function secondsArgument(args: Record<string, unknown>, name: string): number | null {
  const value = args[name];
  if (value === undefined || value === null) return null;
  const seconds = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds > 1e9) {
    throw new ArgumentError(name, 'a number of seconds from 0 to 1e9, or null', value);
  }
  return seconds;
}

/** An optional flag as Celery's strtobool reads it: a boolean or 'true'/'false'/'yes'/'no'/'1'/'0'/'on'/'off'. */
export function flagArgument(args: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = args[name];
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (['true', 'yes', 'y', '1', 'on'].includes(text)) return true;
    if (['false', 'no', 'n', '0', 'off'].includes(text)) return false;
  }
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') throw new ArgumentError(name, "true, false, 'yes', 'no', '1', '0', or null", value);
  return booleanArgument(args, name, fallback);
}

/** An optional short text (such as an election topic): a string of at most 255 bytes, or absent/null. */
export function shortTextArgument(args: Record<string, unknown>, name: string): string | null {
  const value = args[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || Buffer.byteLength(value) > MAX_ROUTE_NAME_BYTES) {
    throw new ArgumentError(name, `a string of at most ${MAX_ROUTE_NAME_BYTES} bytes, or null`, value);
  }
  return value;
}
