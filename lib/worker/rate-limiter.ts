/**
 * Per-task token buckets of one worker (Celery's semantics: capacity 1, so starts of a task are
 * spaced evenly at 1/rate). Invariant: `take(name)` returns true at most once per 1/rate ms per
 * name; names without a rate are never limited. It only decides; the worker keeps a limited
 * request waiting (holding no concurrency slot) and asks again after `waitMs`.
 */
export class RateLimiter {
  /** Earliest time (ms since epoch) each limited task may start again. */
  readonly #nextAt = new Map<string, number>();

  /** `rateOf`: a task's starts per millisecond (parsed when the rate was set: asked on every pump turn), undefined for none. */
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
