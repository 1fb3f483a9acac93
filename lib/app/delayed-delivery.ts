import { delayExchangeDeclarations, delayExitBinding, delayRoute, delayTierDeclarations } from '../broker/delay-tiers.js';
import type { OutgoingMessage, QueueDeclaration, QueueType, Transport } from '../broker/transport.js';

/**
 * Publishes messages that must reach a queue later, through the broker's delay tiers
 * (lib/broker/delay-tiers.ts), so no process holds them meanwhile.
 *
 * Contract: `publish` resolves once the broker confirmed the message into the tiers, where it
 * waits for the time left until its due time as of the moment it is written. Before
 * the first delayed publish the tiers are declared (once per process), and the target queue
 * is declared with its binding from the exit exchange (once per queue): a message never
 * enters the tiers without a route out of them. The per-message `expiration` is removed (it
 * would cut a tier short); the task's `expires` header still makes the worker revoke it.
 * The tiers dead-letter the message from queue to queue; the broker's record of that stays out of
 * its headers (a Delivery shows it as `deadLetter`), so a message sent round again from a delivery
 * carries none of it.
 */
export class DelayedDelivery {
  #tiers: Promise<void> | undefined;
  readonly #exits = new Map<string, Promise<void>>();

  constructor(
    private readonly transport: () => Transport,
    /** The target queue's own declaration (its intents must match every other declaration of it). */
    private readonly declarationOf: (queue: string) => QueueDeclaration,
    /** Which tiers: the classic or the quorum ones (the app's `defaultQueueType`; see delay-tiers.ts). */
    private readonly tierType: QueueType = 'classic',
  ) {}

  /** `delayMs` counts from now; the time spent declaring and waiting to be written is taken off it. */
  async publish(message: OutgoingMessage, queue: string, delayMs: number): Promise<void> {
    const dueAt = Date.now() + delayMs;
    await this.declareTiers();
    await this.declareExit(queue);
    const { expiration: _dropped, ...rest } = message;
    const initial = delayRoute(delayMs, queue, this.tierType);
    await this.transport().publish(
      rest,
      // The route encodes the time left, so it is computed when the message is written: a
      // burst of delayed sends queues up in the publisher, and that wait must not add up.
      {
        exchange: initial.exchange,
        routingKey: initial.routingKey,
        mandatory: true,
        routeAtWrite: () => delayRoute(dueAt - Date.now(), queue, this.tierType),
      },
    );
  }

  private declareTiers(): Promise<void> {
    this.#tiers ??= (async () => {
      const transport = this.transport();
      // In order: each exchange is bound to the one declared before it.
      for (const declaration of delayExchangeDeclarations(this.tierType)) await transport.declareExchange(declaration);
      await Promise.all(delayTierDeclarations(this.tierType).map((declaration) => transport.declareQueue(declaration)));
    })();
    this.#tiers.catch(() => (this.#tiers = undefined));
    return this.#tiers;
  }

  private declareExit(queue: string): Promise<void> {
    let declared = this.#exits.get(queue);
    if (!declared) {
      const { type, maxPriority, deadLetterTo, deadLetterStrategy, messageTtl, expires, deliveryLimit } = this.declarationOf(queue);
      // With the queue's own intents, so this declaration agrees with every other one; the
      // transport remembers the binding with the queue's others and restores it with the queue
      // (after a reconnect, or when the queue was deleted under a consumer and declared again).
      declared = this.transport().declareQueue({
        ...delayExitBinding(queue),
        type,
        maxPriority,
        deadLetterTo,
        deadLetterStrategy,
        messageTtl,
        expires,
        deliveryLimit,
      });
      declared.catch(() => this.#exits.delete(queue));
      this.#exits.set(queue, declared);
    }
    return declared;
  }
}
