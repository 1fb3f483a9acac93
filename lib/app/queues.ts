import type { QueueDeclaration } from '../broker/transport.js';
import type { AppConfig } from './config.js';

/**
 * How a task queue is declared, by producers and workers alike, so both declare it with the
 * same intents (RabbitMQ refuses a re-declaration with different ones). It matches what
 * Celery/kombu declare for a queue named Q: durable, bound to a durable direct exchange Q with
 * routing key Q, and no queue arguments — so Python Celery can declare and use it too.
 * The one exception is opt-in: a queue configured with a max priority (`queueMaxPriority` or
 * `queues[Q].maxPriority`) gets a `maxPriority`, as kombu's `Queue(max_priority=...)` does.
 *
 * A quorum queue (`queues[Q].type: 'quorum'`) is declared `type: 'quorum'` and never with a priority
 * (config.ts refuses one); it is durable like every task queue. With a `deliveryLimit` it also
 * gets that `deliveryLimit` and dead-letters to the queue `Q.dead-letter`
 * (RabbitMQ would drop the message without a dead-letter target): that queue must exist first,
 * so whoever consumes Q declares `deadLetterDeclaration(Q)` before it (see the worker).
 */
export function queueDeclaration(name: string, config?: Pick<AppConfig, 'queueMaxPriority' | 'queues'>): QueueDeclaration {
  const declaration: QueueDeclaration = { name, durable: true, exchange: name, exchangeType: 'direct', routingKey: name };
  const settings = config?.queues[name];
  if (settings?.type === 'quorum') {
    declaration.type = 'quorum';
    if (settings.deliveryLimit !== undefined) {
      declaration.deliveryLimit = settings.deliveryLimit;
      declaration.deadLetterTo = { queue: deadLetterQueueName(name) };
    }
    return declaration;
  }
  const maxPriority = settings && settings.maxPriority !== undefined ? settings.maxPriority : (config?.queueMaxPriority ?? null);
  if (maxPriority !== null) declaration.maxPriority = maxPriority;
  return declaration;
}

/** True when the queue dead-letters into `Q.dead-letter` (a quorum queue with a delivery limit): declare that one first. */
export function deadLettersToQueue(declaration: QueueDeclaration): boolean {
  const target = declaration.deadLetterTo;
  return target !== undefined && 'queue' in target && target.queue === deadLetterQueueName(declaration.name);
}

/** True when the app declares `queue` as a quorum queue (its deliveries carry the broker's `deliveryCount`). */
export function isQuorumQueue(queue: string, config: Pick<AppConfig, 'queues'>): boolean {
  return config.queues[queue]?.type === 'quorum';
}

/** Where undeliverable messages from queue Q go: Q.dead-letter, with the reason in headers. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

export function deadLetterDeclaration(queue: string): QueueDeclaration {
  return { name: deadLetterQueueName(queue), durable: true };
}
