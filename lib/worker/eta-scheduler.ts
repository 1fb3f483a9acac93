import type { Logger } from 'winston';
import { setLongTimeout, type LongTimeout } from '../util/long-timeout.js';
import { republish, type RepublishHost } from './republish.js';
import type { TaskRequest } from './request.js';

/**
 * A message whose ETA is at most this far ahead is held in the worker until due (it arrived a
 * little early: clock skew, or a producer that does not use the delay tiers); further ahead,
 * it is sent back through the broker's delay tiers and acked.
 */
export const HOLD_LIMIT_MS = 1000;

export interface EtaSchedulerHooks {
  /** Takes a held request once it is due. */
  due(request: TaskRequest): void;
  /** Whether the worker still takes work: a deferral that failed is held only then. */
  isRunning(): boolean;
  /** A request went back into the delay tiers (its message acked). */
  deferred(request: TaskRequest, delayMs: number): void;
}

/**
 * The requests of a worker that arrived before their ETA. Invariants: none takes a concurrency
 * slot; no message is held unacked for long — one due more than HOLD_LIMIT_MS ahead goes back
 * into the broker's delay tiers and is acked only once the broker confirmed the copy; if the
 * broker does not take it, it is held here instead (requeued if the worker is stopping), never
 * dropped. A held request leaves exactly once: to `due` when its timer fires, or back to its
 * queue by requeueAll().
 */
export class EtaScheduler {
  readonly #held = new Map<TaskRequest, LongTimeout>();

  constructor(
    private readonly host: RepublishHost,
    private readonly logger: Logger,
    private readonly hooks: EtaSchedulerHooks,
  ) {}

  /** Takes a request due in `delayMs` (> 0): held or deferred, as HOLD_LIMIT_MS decides. */
  schedule(request: TaskRequest, delayMs: number): void {
    if (delayMs > HOLD_LIMIT_MS) this.defer(request, delayMs);
    else this.hold(request, delayMs);
  }

  /** The requests held now, waiting for their ETA. */
  get held(): TaskRequest[] {
    return [...this.#held.keys()];
  }

  get size(): number {
    return this.#held.size;
  }

  /** Stops every timer and returns each held message to its queue. */
  requeueAll(): void {
    for (const [request, timer] of this.#held) {
      timer.clear();
      request.delivery.reject(true);
    }
    this.#held.clear();
  }

  /** Waits for a near ETA in the worker, without a concurrency slot. */
  private hold(request: TaskRequest, delayMs: number): void {
    const timer = setLongTimeout(() => {
      this.#held.delete(request);
      this.hooks.due(request);
    }, delayMs);
    this.#held.set(request, timer);
  }

  /**
   * Sends a message due later back into the broker's delay tiers, then acks it. If the broker
   * does not take the copy, the worker holds the message itself instead (never drops it).
   */
  private defer(request: TaskRequest, delayMs: number): void {
    const { delivery } = request;
    republish(this.host, delivery, delivery.properties.headers, delayMs).then(
      () => {
        delivery.ack();
        this.logger.info(`Task ${request.name}[${request.id}] due in ${delayMs} ms: sent to the delay tiers`);
        this.hooks.deferred(request, delayMs);
      },
      (error: Error) => {
        this.logger.warn(`Task ${request.name}[${request.id}]: could not defer through the delay tiers (${error.message}); holding it`);
        if (this.hooks.isRunning()) this.hold(request, request.delayMs());
        else delivery.reject(true);
      },
    );
  }
}
