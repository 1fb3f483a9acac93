import type { Logger } from 'winston';
import type { DeliveryHandler, Transport } from '../broker/transport.js';
import { ConfigError } from '../errors/errors.js';
import { Autoscaler, type AutoscaleBounds } from './autoscaler.js';
import type { WorkerSettings } from './options.js';
import type { PrefetchRule } from './pool-defaults.js';
import type { TaskPool } from './pool/pool.js';
import { QueueConsumers } from './queue-consumers.js';

/** What a worker's capacity acts on. */
export interface CapacityHooks {
  transport: () => Transport;
  /** Where the consumers hand their deliveries. */
  onDelivery: DeliveryHandler;
  pool: TaskPool;
  /** The worker's requests taken and not finished (running, or ready and waiting for a slot). */
  load: () => number;
  /** Called after every concurrency change: the worker starts what may start now. */
  changed: () => void;
  logger: Logger;
}

/**
 * How much a worker runs at once and takes from the broker: its concurrency, its prefetch and,
 * with `--autoscale` or remote control's autoscale, the autoscaler that drives the concurrency.
 *
 * Invariants: prefetch = prefetchRule.prefetchFor(concurrency) — concurrency × the multiplier
 * given, or the pool's rule (pool-defaults.ts) — following setConcurrency (Celery's
 * pool_grow/pool_shrink update it so); with an autoscaler, prefetch = prefetchFor(max),
 * following the max (Celery's autoscale command) but not the autoscaler's own steps, so the
 * backlog that makes it grow can reach the worker. The pool follows every concurrency change.
 */
export class Capacity {
  /** The worker's consumers, one per queue, all with the current prefetch. */
  readonly consumers: QueueConsumers;
  /** How the prefetch follows the concurrency (the multiplier given, or the pool's rule). */
  readonly prefetchRule: PrefetchRule;
  #concurrency: number;
  #autoscaler: Autoscaler | null = null;
  #running = false;

  constructor(
    settings: Pick<WorkerSettings, 'concurrency' | 'prefetch' | 'autoscale'>,
    private readonly hooks: CapacityHooks,
  ) {
    this.#concurrency = settings.concurrency;
    this.prefetchRule = settings.prefetch;
    const prefetchFor = settings.autoscale ? settings.autoscale.max : settings.concurrency;
    this.consumers = new QueueConsumers(hooks.transport, this.prefetchRule.prefetchFor(prefetchFor), hooks.onDelivery, hooks.logger);
    if (settings.autoscale) this.#autoscaler = this.newAutoscaler(settings.autoscale);
  }

  get concurrency(): number {
    return this.#concurrency;
  }

  get prefetch(): number {
    return this.consumers.prefetch;
  }

  /** The worker's requests taken and not finished (what the autoscaler follows). */
  get load(): number {
    return this.hooks.load();
  }

  get autoscaler(): Autoscaler | null {
    return this.#autoscaler;
  }

  /** Starts the autoscaler's periodic check, if there is one. */
  start(): void {
    this.#running = true;
    this.#autoscaler?.start();
  }

  stop(): void {
    this.#running = false;
    this.#autoscaler?.stop();
  }

  /** A request became ready: the autoscaler (if any) looks at the load before it may start. */
  arrived(): void {
    this.#autoscaler?.maybeScale();
  }

  /** A positive integer; the prefetch follows. Resolves once the broker applies the prefetch. */
  setConcurrency(concurrency: number): Promise<void> {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new ConfigError('worker', `concurrency must be a positive integer, got ${concurrency}`);
    }
    this.resize(concurrency);
    return this.consumers.setPrefetch(this.prefetchRule.prefetchFor(concurrency));
  }

  /**
   * Bounds for the concurrency: starts an autoscaler (keepalive 30 s) or gives the running one
   * new bounds; the prefetch becomes prefetchFor(max). Resolves once the broker applies it.
   */
  autoscale(max: number, min: number): Promise<void> {
    if (!Number.isSafeInteger(max) || max < 1 || !Number.isSafeInteger(min) || min < 0 || min > max) {
      throw new ConfigError('autoscale', `expected integers 0 ≤ min ≤ max and max ≥ 1, got max=${max} min=${min}`);
    }
    if (this.#autoscaler) this.#autoscaler.update(max, min);
    else {
      this.#autoscaler = this.newAutoscaler({ max, min, keepaliveMs: 30_000 });
      this.#autoscaler.update(max, min);
      if (this.#running) this.#autoscaler.start();
    }
    return this.consumers.setPrefetch(this.prefetchRule.prefetchFor(max));
  }

  /** For the ready line: `concurrency 4`, or with an autoscaler Celery's `{min=1, max=8}` and the size now. */
  describe(): string {
    const scaler = this.#autoscaler;
    return scaler ? `concurrency {min=${scaler.min}, max=${scaler.max}} (now ${this.#concurrency})` : `concurrency ${this.#concurrency}`;
  }

  /** The autoscaler's steps: no check (0 is allowed, for a min of 0) and no prefetch change. */
  private resize(concurrency: number): void {
    this.#concurrency = concurrency;
    this.hooks.pool.resize?.(concurrency);
    this.hooks.changed();
  }

  private newAutoscaler(bounds: AutoscaleBounds): Autoscaler {
    return new Autoscaler(bounds, this, (concurrency) => this.resize(concurrency), this.hooks.logger);
  }
}
