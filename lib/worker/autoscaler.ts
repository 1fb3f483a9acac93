import type { Logger } from 'winston';

/** Autoscale bounds, checked (see WorkerOptions.autoscale). */
export interface AutoscaleBounds {
  max: number;
  min: number;
  /** How long after growing before the autoscaler may shrink. */
  keepaliveMs: number;
}

/** What an autoscaler looks at: a worker's concurrency, and its load. */
export interface ScaledWorker {
  readonly concurrency: number;
  /** Requests taken from the broker and not finished: running, or ready and waiting for a slot (Celery's reserved requests). */
  readonly load: number;
}

/** How often the autoscaler looks at the load besides each arrival (Celery's autoscaler thread: every second). */
const CHECK_INTERVAL_MS = 1000;

/**
 * Celery's Autoscaler (celery/worker/autoscale.py) for a celeriac worker: concurrency follows
 * the load between `min` and `max`. On every request that becomes ready and every second:
 * - load above concurrency: grow to min(load, max) at once;
 * - load below concurrency: shrink to max(load, min), but only once `keepalive` has passed
 *   since the last growth (Celery's AUTOSCALE_KEEPALIVE, 30 s), so a bursty queue does not
 *   make it flap.
 * Invariant: min ≤ concurrency ≤ max after every step. It does not change the prefetch: the
 * worker keeps prefetching for `max`, so the backlog that makes it grow can reach it.
 */
export class Autoscaler {
  #max: number;
  #min: number;
  readonly keepaliveMs: number;
  #lastGrowth: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    bounds: AutoscaleBounds,
    private readonly worker: ScaledWorker,
    /** Sets the worker's concurrency (growing starts waiting requests; shrinking lets running ones finish). */
    private readonly resize: (concurrency: number) => void,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#max = bounds.max;
    this.#min = bounds.min;
    this.keepaliveMs = bounds.keepaliveMs;
    // The start counts as growth: a worker that starts above its load keeps its size for a keepalive.
    this.#lastGrowth = now();
  }

  get max(): number {
    return this.#max;
  }

  get min(): number {
    return this.#min;
  }

  /** Starts the periodic check (an unref'd timer: it never keeps the process alive). Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.maybeScale(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One step toward the load (see the class comment). Returns true when it changed the concurrency. */
  maybeScale(): boolean {
    const current = this.worker.concurrency;
    const load = this.worker.load;
    const up = Math.min(load, this.#max);
    if (up > current) {
      this.#lastGrowth = this.now();
      this.logger.info(`autoscaler: scaling up ${up - current} (concurrency ${up}, load ${load})`);
      this.resize(up);
      return true;
    }
    const down = Math.max(load, this.#min);
    if (down < current && this.now() - this.#lastGrowth > this.keepaliveMs) {
      this.logger.info(`autoscaler: scaling down ${current - down} (concurrency ${down}, load ${load})`);
      this.resize(down);
      return true;
    }
    return false;
  }

  /**
   * New bounds (remote control's autoscale), as Celery's Autoscaler.update: a concurrency above
   * the new max shrinks to it at once, one below the new min grows to it.
   */
  update(max: number, min: number): void {
    this.#max = max;
    this.#min = min;
    const current = this.worker.concurrency;
    if (current > max) this.resize(max);
    else if (current < min) {
      this.#lastGrowth = this.now();
      this.resize(min);
    }
  }

  /** Celery's `autoscaler` entry of `inspect stats`. */
  info(): { max: number; min: number; current: number; qty: number } {
    return { max: this.#max, min: this.#min, current: this.worker.concurrency, qty: this.worker.load };
  }
}
