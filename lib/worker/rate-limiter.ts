/**
 * Per-task token buckets of one worker (Celery's semantics: capacity 1, so starts of a task are
 * spaced evenly at 1/rate). Invariant: `take(name)` returns true at most once per 1/rate ms per
 * name, 1/rate taken at the moment it is asked: a rate changed at run time applies to the spacing
 * from the last start at once, and a rate removed lets the task start now; names without a rate
 * are never limited. It only decides; the worker keeps a limited request waiting (holding no
 * concurrency slot) and asks again after `waitMs`.
 */
export class RateLimiter {
  /** When each limited task last started (ms since epoch). */
  readonly #lastStart = new Map<string, number>();

  /** `rateOf`: a task's starts per millisecond (parsed when the rate was set: asked on every pump turn), undefined for none. */
  constructor(private readonly rateOf: (name: string) => number | undefined) {}

  /** Takes a token for `name` if one is available now. */
  take(name: string, now = Date.now()): boolean {
    if (this.waitMs(name, now) > 0) return false;
    if (this.rateOf(name) !== undefined) this.#lastStart.set(name, now);
    return true;
  }

  /** Milliseconds until `name` may start again at its current rate (0 when it may now). */
  waitMs(name: string, now = Date.now()): number {
    const rate = this.rateOf(name);
    const last = this.#lastStart.get(name);
    if (rate === undefined || last === undefined) return 0;
    return Math.max(0, last + 1 / rate - now);
  }
}
