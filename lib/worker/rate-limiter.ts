import { ConfigError } from '../errors/errors.js';

const PER: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** '100/s', '10/m', '1000/h' or a number (per second) → starts per millisecond. Throws ConfigError otherwise. */
export function parseRate(rate: string | number): number {
  if (typeof rate === 'number') {
    if (Number.isFinite(rate) && rate > 0) return rate / 1000;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)\s*$/.exec(rate);
    if (match && Number(match[1]) > 0) return Number(match[1]) / PER[match[2]!]!;
  }
  throw new ConfigError('rateLimit', `expected a rate such as '100/s', '10/m' or '1000/h', got ${JSON.stringify(rate)}`);
}

/**
 * Per-task token buckets of one worker (Celery's semantics: capacity 1, so starts of a task are
 * spaced evenly at 1/rate). Invariant: `take(name)` returns true at most once per 1/rate ms per
 * name; names without a rate are never limited. It only decides; the worker keeps a limited
 * request waiting (holding no concurrency slot) and asks again after `waitMs`.
 */
export class RateLimiter {
  /** Earliest time (ms since epoch) each limited task may start again. */
  readonly #nextAt = new Map<string, number>();

  constructor(private readonly rateOf: (name: string) => number | undefined) {}

  /** Takes a token for `name` if one is available now. */
  take(name: string, now = Date.now()): boolean {
    const rate = this.rateOf(name);
    if (rate === undefined) return true;
    const next = this.#nextAt.get(name) ?? 0;
    if (next > now) return false;
    this.#nextAt.set(name, now + 1 / rate);
    return true;
  }

  /** Milliseconds until `name` may start again (0 when it may now). */
  waitMs(name: string, now = Date.now()): number {
    return Math.max(0, (this.#nextAt.get(name) ?? 0) - now);
  }
}
