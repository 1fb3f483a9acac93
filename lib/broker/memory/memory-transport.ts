import { ClosedError, PublishError } from '../../errors/errors.js';
import { setLongTimeout } from '../../util/long-timeout.js';
import { redactUrl } from '../../util/url.js';
import { routeNameProblem } from '../route-names.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  DeliveryHandler,
  ExchangeDeclaration,
  MessageProperties,
  OutgoingMessage,
  PublishTarget,
  QueueDeclaration,
  Transport,
  TransportOptions,
} from '../transport.js';

/**
 * An in-process broker for memory:// URLs, with the Transport contract's semantics: the
 * default exchange routes by queue name, named direct/topic/fanout exchanges route by their
 * bindings (to queues, and to other exchanges), prefetch bounds unsettled deliveries per queue,
 * x-max-priority orders a queue, x-message-ttl / expiration with x-dead-letter-exchange
 * dead-letter expired and rejected messages. A quorum queue (x-queue-type) sets
 * `x-delivery-count` on its deliveries (returns so far) and dead-letters a message returned
 * more than x-delivery-limit times, as RabbitMQ 3.10 does. Exclusive and auto-delete are
 * accepted and ignored; nothing survives the process.
 *
 * Every transport created for the same URL (host and path) shares one broker, so a producer
 * and an in-process worker see the same queues.
 */

interface Stored {
  body: Buffer;
  properties: MessageProperties;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  /** Times returned to a quorum queue (its x-delivery-count). */
  returns?: number;
}

interface Queue {
  readonly broker: Broker;
  readonly declaration: QueueDeclaration;
  /** Ready messages; with x-max-priority, ordered by priority (highest first), FIFO within one. */
  readonly ready: Stored[];
  readonly consumers: Consumer[];
  nextConsumer: number;
  dispatchScheduled: boolean;
}

/** A binding's destination: a queue, or another exchange (exchange-to-exchange binding). */
type Destination = { queue: string } | { exchange: string };

interface Exchange {
  readonly type: 'direct' | 'topic' | 'fanout';
  readonly bindings: Array<Destination & { key: string }>;
}

interface Broker {
  readonly queues: Map<string, Queue>;
  readonly exchanges: Map<string, Exchange>;
}

/**
 * Invariant: a delivery is settle-able exactly while it is in its consumer's `unsettled`;
 * `unsettled.size <= prefetch` always.
 */
interface Consumer {
  readonly queue: Queue;
  readonly prefetch: number;
  readonly handler: DeliveryHandler;
  readonly unsettled: Set<MemoryDelivery>;
}

const brokers = new Map<string, Broker>();

export function createMemoryTransport(url: string, _options: TransportOptions): Transport {
  const parsed = new URL(url);
  const key = `${parsed.host}${parsed.pathname}`;
  let broker = brokers.get(key);
  if (!broker) brokers.set(key, (broker = { queues: new Map(), exchanges: new Map() }));
  return new MemoryTransport(url, broker);
}

class MemoryDelivery implements Delivery {
  readonly body: Buffer;
  readonly properties: MessageProperties;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly deliveryCount: number | undefined;
  readonly queue: string;

  constructor(private readonly consumer: Consumer, readonly stored: Stored) {
    this.body = stored.body;
    this.properties = structuredClone(stored.properties);
    if (isQuorum(consumer.queue)) this.properties.headers['x-delivery-count'] = stored.returns ?? 0;
    this.deliveryCount = isQuorum(consumer.queue) ? (stored.returns ?? 0) : undefined;
    this.exchange = stored.exchange;
    this.routingKey = stored.routingKey;
    this.redelivered = stored.redelivered;
    this.queue = consumer.queue.declaration.name;
  }

  ack(): boolean {
    if (!this.consumer.unsettled.delete(this)) return false;
    scheduleDispatch(this.consumer.queue);
    return true;
  }

  reject(requeue: boolean): boolean {
    if (!this.consumer.unsettled.delete(this)) return false;
    if (requeue) returnToQueue(this.consumer.queue, this.stored);
    else deadLetter(this.consumer.queue, this.stored, 'rejected');
    scheduleDispatch(this.consumer.queue);
    return true;
  }
}

class MemoryTransport implements Transport {
  readonly url: string;
  private readonly consumers = new Set<Consumer>();
  /** The getter of each queue this transport ran `get` on; it holds gotten, unsettled messages. */
  private readonly getters = new Map<Queue, Consumer>();
  private closed = false;

  constructor(url: string, private readonly broker: Broker) {
    this.url = redactUrl(url);
  }

  async declareQueue(declaration: QueueDeclaration): Promise<void> {
    this.ensureOpen();
    const { name, exchange, exchangeType = 'direct' } = declaration;
    if (!this.broker.queues.has(name)) {
      this.broker.queues.set(name, { broker: this.broker, declaration, ready: [], consumers: [], nextConsumer: 0, dispatchScheduled: false });
    }
    if (!exchange) return;
    let target = this.broker.exchanges.get(exchange);
    if (!target) this.broker.exchanges.set(exchange, (target = { type: exchangeType, bindings: [] }));
    if (target.type !== exchangeType) {
      throw new Error(`PRECONDITION_FAILED - exchange '${exchange}' is ${target.type}, not ${exchangeType}`);
    }
    const key = declaration.routingKey ?? name;
    if (!target.bindings.some((b) => 'queue' in b && b.queue === name && b.key === key)) target.bindings.push({ queue: name, key });
  }

  async declareExchange({ name, type, from }: ExchangeDeclaration): Promise<void> {
    this.ensureOpen();
    const existing = this.broker.exchanges.get(name);
    if (!existing) this.broker.exchanges.set(name, { type, bindings: [] });
    else if (existing.type !== type) throw new Error(`PRECONDITION_FAILED - exchange '${name}' is ${existing.type}, not ${type}`);
    if (!from) return;
    const source = this.broker.exchanges.get(from.exchange);
    if (!source) throw new Error(`NOT_FOUND - no exchange '${from.exchange}'`);
    const key = from.routingKey;
    if (!source.bindings.some((b) => 'exchange' in b && b.exchange === name && b.key === key)) source.bindings.push({ exchange: name, key });
  }

  async publish(message: OutgoingMessage, target: PublishTarget): Promise<void> {
    this.ensureOpen();
    // `target.isolated` needs nothing here: no publish can close anything another one shares.
    const { exchange, routingKey } = target.routeAtWrite?.() ?? target;
    const problem = routeNameProblem(exchange, routingKey);
    if (problem !== null) throw new PublishError('unroutable', `cannot publish to exchange '${exchange.slice(0, 60)}' routing key '${routingKey.slice(0, 60)}': ${problem}`);
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
    const mine = targets.map((queue) => ({ queue, prefetch: options.prefetch, handler, unsettled: new Set<MemoryDelivery>() }));
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
    const delivery = new MemoryDelivery(getter, stored);
    getter.unsettled.add(delivery);
    return delivery;
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
        const binding = exchange.bindings[i]!;
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
    if (!queue) throw new Error(`NOT_FOUND - no queue '${name}' in ${this.url}`);
    return queue;
  }

  private knowsExchange(name: string): boolean {
    return name === '' || this.broker.exchanges.has(name);
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`broker ${this.url}: transport is closed`);
  }
}

/** The queues a publish reaches: through the exchange's bindings, and on through bound exchanges (each visited once). */
function route(broker: Broker, exchange: string, routingKey: string): Queue[] {
  if (exchange === '') {
    const queue = broker.queues.get(routingKey);
    return queue ? [queue] : [];
  }
  const names = new Set<string>();
  const visited = new Set<string>();
  const visit = (name: string): void => {
    const target = broker.exchanges.get(name);
    if (!target || visited.has(name)) return;
    visited.add(name);
    for (const binding of target.bindings) {
      if (target.type !== 'fanout' && !(target.type === 'direct' ? binding.key === routingKey : topicMatches(binding.key, routingKey))) continue;
      if ('queue' in binding) names.add(binding.queue);
      else visit(binding.exchange);
    }
  };
  visit(exchange);
  return [...names].flatMap((name) => broker.queues.get(name) ?? []);
}

/** AMQP topic matching: words split by '.', '*' matches one word, '#' zero or more. */
function topicMatches(pattern: string, routingKey: string): boolean {
  const match = (p: string[], k: string[]): boolean => {
    if (p.length === 0) return k.length === 0;
    if (p[0] === '#') return match(p.slice(1), k) || (k.length > 0 && match(p, k.slice(1)));
    return k.length > 0 && (p[0] === '*' || p[0] === k[0]) && match(p.slice(1), k.slice(1));
  };
  return match(pattern.split('.'), routingKey.split('.'));
}

function maxPriority(queue: Queue): number {
  const value = queue.declaration.arguments?.['x-max-priority'];
  return typeof value === 'number' ? value : 0;
}

function priorityOf(queue: Queue, message: Stored): number {
  return Math.min(message.properties.priority ?? 0, maxPriority(queue));
}

/** Inserts behind (or, when `front`, ahead of) the messages of the same priority. */
function insert(queue: Queue, message: Stored, front: boolean): void {
  const priority = priorityOf(queue, message);
  const index = queue.ready.findIndex((other) =>
    front ? priorityOf(queue, other) <= priority : priorityOf(queue, other) < priority,
  );
  queue.ready.splice(index < 0 ? queue.ready.length : index, 0, message);
}

function enqueue(queue: Queue, message: Stored): void {
  if (maxPriority(queue) > 0) insert(queue, message, false);
  else queue.ready.push(message);
  const queueTtl = queue.declaration.arguments?.['x-message-ttl'];
  const ttl = Math.min(
    typeof queueTtl === 'number' ? queueTtl : Infinity,
    message.properties.expiration !== undefined ? Number(message.properties.expiration) : Infinity,
  );
  if (Number.isFinite(ttl)) {
    setLongTimeout(() => {
      const index = queue.ready.indexOf(message);
      if (index < 0) return;
      queue.ready.splice(index, 1);
      deadLetter(queue, message, 'expired');
    }, ttl).unref();
  }
  scheduleDispatch(queue);
}

function returnToQueue(queue: Queue, message: Stored): void {
  if (!isQuorum(queue)) {
    insert(queue, { ...message, redelivered: true }, true);
    return;
  }
  const returns = (message.returns ?? 0) + 1;
  const limit = queue.declaration.arguments?.['x-delivery-limit'];
  if (typeof limit === 'number' && returns > limit) deadLetter(queue, message, 'delivery_limit');
  else insert(queue, { ...message, redelivered: true, returns }, true);
}

function isQuorum(queue: Queue): boolean {
  return queue.declaration.arguments?.['x-queue-type'] === 'quorum';
}

/** Routes a dead message through the queue's x-dead-letter-exchange; without one it is dropped. */
function deadLetter(queue: Queue, message: Stored, reason: 'expired' | 'rejected' | 'delivery_limit'): void {
  const args = queue.declaration.arguments ?? {};
  const exchange = args['x-dead-letter-exchange'];
  if (typeof exchange !== 'string') return;
  const routingKey = typeof args['x-dead-letter-routing-key'] === 'string' ? args['x-dead-letter-routing-key'] : message.routingKey;
  const { expiration: _expired, ...properties } = message.properties;
  properties.headers = {
    ...properties.headers,
    'x-first-death-reason': reason,
    'x-first-death-queue': queue.declaration.name,
    'x-first-death-exchange': message.exchange,
  };
  for (const target of route(queue.broker, exchange, routingKey)) {
    enqueue(target, { ...message, properties, exchange, routingKey, redelivered: false, returns: 0 });
  }
}

function detach(consumer: Consumer): void {
  const list = consumer.queue.consumers;
  const index = list.indexOf(consumer);
  if (index >= 0) list.splice(index, 1);
}

/** Deliveries are handed out from a later macrotask, never inside publish/ack/consume. */
function scheduleDispatch(queue: Queue): void {
  if (queue.dispatchScheduled) return;
  queue.dispatchScheduled = true;
  setImmediate(() => {
    queue.dispatchScheduled = false;
    while (queue.ready.length > 0) {
      const consumer = nextWithRoom(queue);
      if (!consumer) return;
      const delivery = new MemoryDelivery(consumer, queue.ready.shift()!);
      consumer.unsettled.add(delivery);
      try {
        consumer.handler(delivery);
      } catch {
        // The handler owns its errors; the delivery stays unsettled like on a real broker.
      }
    }
  });
}

/** Round-robin over the queue's consumers that have room under their prefetch. */
function nextWithRoom(queue: Queue): Consumer | undefined {
  for (let i = 0; i < queue.consumers.length; i++) {
    const consumer = queue.consumers[(queue.nextConsumer + i) % queue.consumers.length]!;
    if (consumer.unsettled.size < consumer.prefetch) {
      queue.nextConsumer = (queue.nextConsumer + i + 1) % queue.consumers.length;
      return consumer;
    }
  }
  return undefined;
}
