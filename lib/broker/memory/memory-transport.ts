import { ClosedError, PublishError, TransportError } from '../../errors/errors.js';
import { redactUrl } from '../../util/url.js';
import { routeNameProblem } from '../route-names.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  DeliveryHandler,
  ExchangeDeclaration,
  OutgoingMessage,
  PublishTarget,
  QueueDeclaration,
  Transport,
  TransportOptions,
} from '../transport.js';
import { brokerFor, route, type Broker, type Consumer, type Queue } from './broker-state.js';
import { detach, hold, scheduleDispatch } from './dispatch.js';
import { enqueue, returnToQueue } from './queue-semantics.js';
import { checkQueueIntents, queueTypeMismatchText } from '../declaration-intents.js';

/**
 * An in-process broker for memory:// URLs, with the Transport contract's semantics and the same
 * queue intents as the AMQP adapter (priority, message TTL, dead-lettering, quorum delivery count
 * and limit: queue-semantics.ts). Exclusive, auto-delete and `expires` are accepted and ignored;
 * nothing survives the process. Refusals are TransportErrors, as from RabbitMQ.
 *
 * Every transport created for the same URL (host and path) shares one broker, so a producer
 * and an in-process worker see the same queues.
 */
export function createMemoryTransport(url: string, _options: TransportOptions): Transport {
  return new MemoryTransport(url, brokerFor(url));
}

class MemoryTransport implements Transport {
  readonly url: string;
  private readonly consumers = new Set<Consumer>();
  /** The getter of each queue this transport ran `get` on; it holds gotten, unsettled messages. */
  private readonly getters = new Map<Queue, Consumer>();
  private closed = false;

  constructor(
    url: string,
    private readonly broker: Broker,
  ) {
    this.url = redactUrl(url);
  }

  async declareQueue(declaration: QueueDeclaration): Promise<void> {
    this.ensureOpen();
    checkQueueIntents(declaration);
    const { name, exchange, exchangeType = 'direct' } = declaration;
    const existing = this.broker.queues.get(name);
    const conflict = existing && intentConflict(existing.declaration, declaration);
    if (existing && conflict === 'type') {
      const [asked, current] = [declaration.type ?? 'classic', existing.declaration.type ?? 'classic'];
      throw new TransportError('precondition-failed', `broker ${this.url}: ${queueTypeMismatchText(name, asked, current)}`);
    }
    if (conflict)
      throw new TransportError('precondition-failed', `PRECONDITION_FAILED - inequivalent ${conflict} for queue '${name}' in ${this.url}`);
    if (!existing) {
      const queue: Queue = {
        broker: this.broker,
        declaration,
        ready: [],
        consumers: [],
        nextConsumer: 0,
        dispatchScheduled: false,
        wake: () => scheduleDispatch(queue),
      };
      this.broker.queues.set(name, queue);
    }
    if (!exchange) return;
    let target = this.broker.exchanges.get(exchange);
    if (!target) this.broker.exchanges.set(exchange, (target = { type: exchangeType, bindings: [] }));
    if (target.type !== exchangeType) {
      throw new TransportError(
        'precondition-failed',
        `PRECONDITION_FAILED - exchange '${exchange}' is ${target.type}, not ${exchangeType}`,
      );
    }
    const key = declaration.routingKey ?? name;
    if (!target.bindings.some((b) => 'queue' in b && b.queue === name && b.key === key)) target.bindings.push({ queue: name, key });
  }

  async declareExchange({ name, type, from }: ExchangeDeclaration): Promise<void> {
    this.ensureOpen();
    const existing = this.broker.exchanges.get(name);
    if (!existing) this.broker.exchanges.set(name, { type, bindings: [] });
    else if (existing.type !== type)
      throw new TransportError('precondition-failed', `PRECONDITION_FAILED - exchange '${name}' is ${existing.type}, not ${type}`);
    if (!from) return;
    const source = this.broker.exchanges.get(from.exchange);
    if (!source) throw new TransportError('not-found', `NOT_FOUND - no exchange '${from.exchange}'`);
    const key = from.routingKey;
    if (!source.bindings.some((b) => 'exchange' in b && b.exchange === name && b.key === key))
      source.bindings.push({ exchange: name, key });
  }

  async publish(message: OutgoingMessage, target: PublishTarget): Promise<void> {
    this.ensureOpen();
    // `target.isolated` needs nothing here: no publish can close anything another one shares.
    const { exchange, routingKey } = target.routeAtWrite?.() ?? target;
    const problem = routeNameProblem(exchange, routingKey);
    if (problem !== null)
      throw new PublishError(
        'unroutable',
        `cannot publish to exchange '${exchange.slice(0, 60)}' routing key '${routingKey.slice(0, 60)}': ${problem}`,
      );
    const queues = route(this.broker, exchange, routingKey);
    if (queues.length === 0 && ((target.mandatory ?? true) || !this.knowsExchange(exchange))) {
      throw new PublishError('unroutable', `unroutable publish to exchange '${exchange}' routing key '${routingKey}'`);
    }
    const { body, ...properties } = message;
    for (const queue of queues) {
      enqueue(queue, {
        body: Buffer.from(body),
        properties: structuredClone({ ...properties, persistent: properties.persistent ?? true }),
        exchange,
        routingKey,
        redelivered: false,
      });
    }
  }

  async consume(queues: string[], options: ConsumeOptions, handler: DeliveryHandler): Promise<ConsumerHandle> {
    this.ensureOpen();
    const targets = queues.map((name) => this.queue(name));
    const mine: Consumer[] = targets.map((queue) => ({ queue, prefetch: options.prefetch, handler, unsettled: new Set() }));
    for (const consumer of mine) {
      this.consumers.add(consumer);
      consumer.queue.consumers.push(consumer);
      scheduleDispatch(consumer.queue);
    }
    return {
      cancel: async () => {
        for (const consumer of mine) detach(consumer);
      },
    };
  }

  async purge(name: string): Promise<number> {
    this.ensureOpen();
    return this.queue(name).ready.splice(0).length;
  }

  async messageCount(name: string): Promise<number> {
    this.ensureOpen();
    return this.queue(name).ready.length;
  }

  /** Like basic.get: the message is held by a consumer-like getter that is never dispatched to. */
  async get(name: string): Promise<Delivery | null> {
    this.ensureOpen();
    const queue = this.queue(name);
    const stored = queue.ready.shift();
    if (!stored) return null;
    let getter = this.getters.get(queue);
    if (!getter) {
      getter = { queue, prefetch: Number.POSITIVE_INFINITY, handler: () => undefined, unsettled: new Set() };
      this.getters.set(queue, getter);
      this.consumers.add(getter);
    }
    return hold(getter, stored);
  }

  async getMany(name: string, max: number): Promise<Delivery[]> {
    const taken: Delivery[] = [];
    while (taken.length < max) {
      const delivery = await this.get(name);
      if (!delivery) break;
      taken.push(delivery);
    }
    return taken;
  }

  async deleteQueue(name: string): Promise<void> {
    this.ensureOpen();
    this.broker.queues.delete(name);
    for (const exchange of this.broker.exchanges.values()) {
      for (let i = exchange.bindings.length - 1; i >= 0; i--) {
        const binding = exchange.bindings[i];
        if ('queue' in binding && binding.queue === name) exchange.bindings.splice(i, 1);
      }
    }
  }

  /** Unsettled deliveries of this transport's consumers go back to their queues, redelivered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const consumer of this.consumers) {
      detach(consumer);
      const held = [...consumer.unsettled].reverse();
      consumer.unsettled.clear();
      for (const delivery of held) returnToQueue(consumer.queue, delivery.stored);
      scheduleDispatch(consumer.queue);
    }
    this.consumers.clear();
  }

  private queue(name: string): Queue {
    const queue = this.broker.queues.get(name);
    if (!queue) throw new TransportError('not-found', `NOT_FOUND - no queue '${name}' in ${this.url}`);
    return queue;
  }

  private knowsExchange(name: string): boolean {
    return name === '' || this.broker.exchanges.has(name);
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`broker ${this.url}: transport is closed`);
  }
}

/**
 * The first intent two declarations of one queue disagree on, or null: RabbitMQ refuses a
 * re-declaration that differs in durability or any argument, and so does memory://.
 */
function intentConflict(declared: QueueDeclaration, again: QueueDeclaration): string | null {
  const intents = (d: QueueDeclaration) => ({
    type: d.type ?? 'classic',
    durable: d.type === 'quorum' || (d.durable ?? true),
    maxPriority: d.maxPriority,
    messageTtl: d.messageTtl,
    expires: d.expires,
    deliveryLimit: d.deliveryLimit,
    deadLetterStrategy: d.deadLetterStrategy ?? 'at-most-once',
    deadLetterTo:
      d.deadLetterTo === undefined
        ? undefined
        : JSON.stringify('queue' in d.deadLetterTo ? { exchange: '', routingKey: d.deadLetterTo.queue } : d.deadLetterTo),
  });
  const [before, now] = [intents(declared), intents(again)];
  // The type first: a queue of the other type differs in more than that, and the type is what to report.
  for (const key of Object.keys(before) as (keyof typeof before)[]) {
    if (before[key] !== now[key]) return key;
  }
  return null;
}
