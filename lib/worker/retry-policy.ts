import type { TaskOptions } from '../app/task.js';
import { MaxRetriesExceededError, NonRetryableError } from '../errors/errors.js';
import { Retry } from '../errors/signals.js';
import { toMilliseconds } from '../util/duration.js';

export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_RETRY_DELAY = '3m';
export const DEFAULT_BACKOFF_MAX = '10m';

/** What to do with a task run that threw: run it again after `delayMs`, or record `error` as its FAILURE. */
export type RetryDecision = { retry: true; delayMs: number; error: unknown } | { retry: false; error: unknown };

interface Attempt {
  taskName: string;
  taskId: string;
  /** The `retries` header of the run that threw: retries done before it. */
  retries: number;
}

/**
 * Decides between retry and failure for what a task threw. Rules (Celery's, with its defaults):
 * - a Retry signal (context.retry()) retries after its eta/countdown, else `defaultRetryDelay`;
 * - a NonRetryableError never retries;
 * - an error matched by `autoretryFor` retries after the backoff (`retryBackoff`), else `defaultRetryDelay`;
 * - anything else fails;
 * - a retry beyond `maxRetries` (null = unlimited) fails instead, with the original error
 *   (or MaxRetriesExceededError for a Retry without `exc`).
 */
export function decideRetry(
  options: Readonly<TaskOptions>,
  attempt: Attempt,
  thrown: unknown,
  now = Date.now(),
  random = Math.random,
): RetryDecision {
  if (thrown instanceof Retry) {
    const signal = thrown.options;
    const max = signal.maxRetries !== undefined ? signal.maxRetries : maxRetriesOf(options);
    if (max !== null && attempt.retries >= max) {
      return { retry: false, error: signal.exc ?? new MaxRetriesExceededError(attempt.taskName, attempt.taskId, max) };
    }
    const delayMs =
      signal.eta !== undefined
        ? Math.max(0, signal.eta.getTime() - now)
        : toMilliseconds(signal.countdown ?? options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY, 'countdown');
    return { retry: true, delayMs, error: signal.exc ?? thrown };
  }
  if (thrown instanceof NonRetryableError || !matchesAutoretry(options, thrown)) return { retry: false, error: thrown };
  const max = maxRetriesOf(options);
  if (max !== null && attempt.retries >= max) return { retry: false, error: thrown };
  return { retry: true, delayMs: backoffMs(options, attempt.retries, random), error: thrown };
}

function maxRetriesOf(options: Readonly<TaskOptions>): number | null {
  return options.maxRetries === undefined ? DEFAULT_MAX_RETRIES : options.maxRetries;
}

function matchesAutoretry(options: Readonly<TaskOptions>, error: unknown): boolean {
  const rule = options.autoretryFor;
  if (rule === undefined) return false;
  if (Array.isArray(rule)) return rule.some((cls) => error instanceof cls);
  return rule(error);
}

/**
 * Delay before automatic retry number `retries + 1`: factor × 2^retries capped at
 * retryBackoffMax, with full jitter (uniform in [0, that]) unless retryJitter is false; without
 * retryBackoff, defaultRetryDelay.
 */
export function backoffMs(options: Readonly<TaskOptions>, retries: number, random = Math.random): number {
  const backoff = options.retryBackoff;
  if (backoff === undefined || backoff === false)
    return toMilliseconds(options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY, 'defaultRetryDelay');
  const factor = backoff === true ? 1000 : toMilliseconds(backoff, 'retryBackoff');
  const cap = toMilliseconds(options.retryBackoffMax ?? DEFAULT_BACKOFF_MAX, 'retryBackoffMax');
  const delay = Math.min(cap, factor * 2 ** retries);
  return options.retryJitter === false ? delay : Math.floor(random() * (delay + 1));
}
