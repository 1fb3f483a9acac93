import type { DeadLetterRecord, DeliveryHandler, MessageProperties, QueueDeclaration } from '../transport.js';

/**
 * The state of one in-process broker (memory://), and how it routes: the default exchange by
 * queue name, named direct/topic/fanout exchanges by their bindings, to queues and on to other
 * exchanges. What happens to a message inside a queue is queue-semantics.ts's; handing it to
 * consumers is dispatch.ts's.
 */

/** A message in a queue. */
export interface Stored {
  body: Buffer;
  properties: MessageProperties;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  /** Times returned to a quorum queue: its delivery count. */
  returns?: number;
  /** The latest time the broker dead-lettered it, if ever. */
  death?: DeadLetterRecord;
}

/** A settle-able delivery, as the queue semantics see it: what it holds. */
export interface Held {
  readonly stored: Stored;
}

/**
 * One consumer of one queue (a getter is one that is never dispatched to). Invariant: a delivery
 * is settle-able exactly while it is in `unsettled`; `unsettled.size <= prefetch` always.
 */
export interface Consumer {
  readonly queue: Queue;
  readonly prefetch: number;
  readonly handler: DeliveryHandler;
  readonly unsettled: Set<Held>;
}

export interface Queue {
  readonly broker: Broker;
  readonly declaration: QueueDeclaration;
  /** Ready messages; with a maxPriority, ordered by priority (highest first), FIFO within one. */
  readonly ready: Stored[];
  readonly consumers: Consumer[];
  nextConsumer: number;
  dispatchScheduled: boolean;
  /** Called whenever the queue may have something to hand out (set by whoever creates the queue). */
  readonly wake: () => void;
}

/** A binding's destination: a queue, or another exchange (exchange-to-exchange binding). */
export type Destination = { queue: string } | { exchange: string };

export interface Exchange {
  readonly type: 'direct' | 'topic' | 'fanout';
  readonly bindings: Array<Destination & { key: string }>;
}

export interface Broker {
  readonly queues: Map<string, Queue>;
  readonly exchanges: Map<string, Exchange>;
}

const brokers = new Map<string, Broker>();

/** The broker of a memory:// URL: every transport created for the same host and path shares one. */
export function brokerFor(url: string): Broker {
  const parsed = new URL(url);
  const key = `${parsed.host}${parsed.pathname}`;
  let broker = brokers.get(key);
  if (!broker) brokers.set(key, (broker = { queues: new Map(), exchanges: new Map() }));
  return broker;
}

/** The queues a publish reaches: through the exchange's bindings, and on through bound exchanges (each visited once). */
export function route(broker: Broker, exchange: string, routingKey: string): Queue[] {
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
      if (target.type !== 'fanout' && !(target.type === 'direct' ? binding.key === routingKey : topicMatches(binding.key, routingKey)))
        continue;
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
