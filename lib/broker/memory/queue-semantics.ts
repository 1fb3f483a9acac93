import { setLongTimeout } from '../../util/long-timeout.js';
import type { DeadLetterReason } from '../transport.js';
import { route, type Queue, type Stored } from './broker-state.js';

/**
 * What a memory:// queue does with a message, by its declaration's intents, as RabbitMQ 3.10
 * does: `maxPriority` orders it; `messageTtl` (or a message's `expiration`, whichever is shorter)
 * expires it (RabbitMQ at the head of the queue only; memory:// wherever it waits); a quorum queue counts
 * returns (Delivery.deliveryCount) and dead-letters a message returned more than
 * `deliveryLimit` times; expired, rejected and over-the-limit messages go to `deadLetterTo`,
 * or are dropped without one. `expires` is accepted and ignored (nothing outlives the process).
 * Every change that may let a consumer take a message calls the queue's `wake`.
 */

export function isQuorum(queue: Queue): boolean {
  return queue.declaration.type === 'quorum';
}

function priorityOf(queue: Queue, message: Stored): number {
  return Math.min(message.properties.priority ?? 0, queue.declaration.maxPriority ?? 0);
}

/** Inserts behind (or, when `front`, ahead of) the messages of the same priority. */
function insert(queue: Queue, message: Stored, front: boolean): void {
  const priority = priorityOf(queue, message);
  const index = queue.ready.findIndex((other) => (front ? priorityOf(queue, other) <= priority : priorityOf(queue, other) < priority));
  queue.ready.splice(index < 0 ? queue.ready.length : index, 0, message);
}

/** A message arrives (published or dead-lettered): it waits its turn, and expires after its TTL. */
export function enqueue(queue: Queue, message: Stored): void {
  if ((queue.declaration.maxPriority ?? 0) > 0) insert(queue, message, false);
  else queue.ready.push(message);
  const ttl = Math.min(
    queue.declaration.messageTtl ?? Infinity,
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
  queue.wake();
}

/** A delivery rejected with requeue (or left unsettled by a closing transport) goes back to the head, flagged redelivered. */
export function returnToQueue(queue: Queue, message: Stored): void {
  if (!isQuorum(queue)) {
    insert(queue, { ...message, redelivered: true }, true);
  } else {
    const returns = (message.returns ?? 0) + 1;
    const limit = queue.declaration.deliveryLimit;
    if (limit !== undefined && returns > limit) deadLetter(queue, message, 'delivery_limit');
    else insert(queue, { ...message, redelivered: true, returns }, true);
  }
  queue.wake();
}

/** Routes a dead message to the queue's `deadLetterTo`, with the death recorded; without one it is dropped. */
export function deadLetter(queue: Queue, message: Stored, reason: DeadLetterReason): void {
  const target = queue.declaration.deadLetterTo;
  if (!target) return;
  const [exchange, routingKey] = 'queue' in target ? ['', target.queue] : [target.exchange, target.routingKey ?? message.routingKey];
  const { expiration: _expired, ...properties } = message.properties;
  const death = {
    reason,
    queue: queue.declaration.name,
    exchange: message.exchange,
    routingKeys: [message.routingKey],
    time: new Date(),
    count: (message.death?.count ?? 0) + 1,
  };
  for (const next of route(queue.broker, exchange, routingKey)) {
    enqueue(next, { body: message.body, properties, exchange, routingKey, redelivered: false, death });
  }
}
