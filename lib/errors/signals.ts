import type { Duration } from '../util/duration.js';

/**
 * Control-flow signals: thrown by task code to tell the worker what to do next. They are not
 * errors (no code, never stored as a failure themselves) and are kept apart from errors.ts.
 * `instanceof` works across module copies and worker threads through a Symbol.for marker.
 */

const SIGNAL = Symbol.for('celeriac.signal');

export interface RetryOptions {
  /** Wait this long before the next try. Default: the task's `defaultRetryDelay`. */
  countdown?: Duration;
  /** Do not run the next try before this instant (wins over countdown). */
  eta?: Date;
  /** The error that caused the retry: stored with the RETRY state, and the FAILURE once retries run out. */
  exc?: unknown;
  /** Overrides the task's `maxRetries` for this decision; null retries forever. */
  maxRetries?: number | null;
}

/**
 * "Run this task again later": thrown by `context.retry()`. The worker re-publishes the same
 * message (same id, args and workflow) with `retries` + 1 through the broker's delay tiers,
 * records RETRY, then acks the original.
 */
export class Retry extends Error {
  constructor(readonly options: RetryOptions = {}) {
    const cause = options.exc;
    super(cause instanceof Error ? `Retry in ${String(options.countdown ?? 'default delay')}: ${cause.message}` : 'Retry');
    this.name = 'Retry';
    Object.defineProperty(this, SIGNAL, { value: 'retry' });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SIGNAL] === 'retry';
  }
}
