import type { Logger } from 'winston';
import type { ConsumerHandle, DeliveryHandler, Transport } from '../broker/transport.js';

/** AMQP's largest prefetch (basic.qos prefetch-count is 16 bits). */
export const MAX_PREFETCH = 65_535;

interface QueueConsumer {
  readonly handle: ConsumerHandle;
  /** The prefetch it was started with. */
  readonly prefetch: number;
}

/**
 * A worker's consumers: one per queue (so remote control can add and cancel queues one by one),
 * all with the worker's current prefetch.
 *
 * A prefetch change (the worker's concurrency changed) is applied by starting a new consumer of
 * each queue with the new prefetch, then cancelling the old one: RabbitMQ applies a per-consumer
 * basic.qos only to consumers started after it, and the global form, which would change a running
 * consumer's, is refused by quorum queues. Deliveries the old consumer handed out stay settle-able
 * (ConsumerHandle.cancel), so until they settle the worker may hold up to old + new prefetch.
 * Invariants: changes apply one at a time, in order, and a queue cancelled or added meanwhile is
 * left as it is; a consumer replaced during stop() is cancelled.
 */
export class QueueConsumers {
  readonly #consumers = new Map<string, QueueConsumer>();
  #prefetch: number;
  #changing: Promise<void> = Promise.resolve();

  constructor(
    private readonly transport: () => Transport,
    prefetch: number,
    private readonly onDelivery: DeliveryHandler,
    private readonly logger: Logger,
  ) {
    this.#prefetch = clampPrefetch(prefetch);
  }

  /** The prefetch of consumers started from now on (and, once applied, of every consumer). */
  get prefetch(): number {
    return this.#prefetch;
  }

  /** The queues consumed now, in the order they were added. */
  get queues(): string[] {
    return [...this.#consumers.keys()];
  }

  has(queue: string): boolean {
    return this.#consumers.has(queue);
  }

  /** Starts consuming `queue` (declared by the caller) with the current prefetch. */
  async add(queue: string): Promise<void> {
    const prefetch = this.#prefetch;
    const handle = await this.transport().consume([queue], { prefetch }, this.onDelivery);
    this.#consumers.set(queue, { handle, prefetch });
  }

  /** Stops consuming `queue`; false when it is not consumed. */
  async cancel(queue: string): Promise<boolean> {
    const consumer = this.#consumers.get(queue);
    if (!consumer) return false;
    this.#consumers.delete(queue);
    await consumer.handle.cancel();
    return true;
  }

  /** Cancels every consumer (a failed cancel is logged); none is started after this. */
  async cancelAll(): Promise<void> {
    const consumers = [...this.#consumers.values()];
    this.#consumers.clear();
    await Promise.all(
      consumers.map((c) => c.handle.cancel().catch((error: Error) => this.logger.warn(`cancelling the consumer failed: ${error.message}`))),
    );
  }

  /**
   * Changes the prefetch (clamped to 1..MAX_PREFETCH) of every consumer, as the class comment
   * says. Resolves once applied; a failure is logged and leaves the queue on its old consumer.
   */
  setPrefetch(prefetch: number): Promise<void> {
    const wanted = clampPrefetch(prefetch);
    this.#prefetch = wanted;
    const applied = this.#changing.then(() => this.apply(wanted));
    this.#changing = applied;
    return applied;
  }

  private async apply(prefetch: number): Promise<void> {
    if (this.#prefetch !== prefetch) return; // a later change supersedes this one
    for (const [queue, old] of [...this.#consumers]) {
      if (old.prefetch === prefetch) continue;
      try {
        const handle = await this.transport().consume([queue], { prefetch }, this.onDelivery);
        if (this.#consumers.get(queue) !== old) {
          // Cancelled (or stopped) meanwhile: the new consumer is not wanted.
          await handle.cancel();
          continue;
        }
        this.#consumers.set(queue, { handle, prefetch });
        await old.handle.cancel();
      } catch (error) {
        this.logger.warn(`prefetch ${prefetch} for queue ${queue} not applied: ${(error as Error).message}`);
      }
    }
  }
}

function clampPrefetch(prefetch: number): number {
  return Math.max(1, Math.min(MAX_PREFETCH, Math.floor(prefetch)));
}
