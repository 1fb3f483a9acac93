import type { QueueDeclaration } from '../broker/transport.js';
import type { AppConfig, QueueType } from './config.js';

/** What decides how celeriac declares a queue: the per-queue settings, then the app-wide ones. */
export type QueueConfig = Pick<AppConfig, 'queueMaxPriority' | 'queues' | 'defaultQueueType'>;

/**
 * The type the app declares a durable queue named `queue` with: `queues[queue].type`, else the
 * app's `defaultQueueType`. The same rule for task queues and their `Q.dead-letter` queues (a
 * dead-letter queue is looked up by its own name).
 */
export function queueTypeOf(queue: string, config?: Pick<AppConfig, 'queues' | 'defaultQueueType'>): QueueType {
  return config?.queues[queue]?.type ?? config?.defaultQueueType ?? 'classic';
}

/**
 * How a task queue is declared, by producers and workers alike, so both declare it with the
 * same intents (RabbitMQ refuses a re-declaration with different ones). It matches what
 * Celery/kombu declare for a queue named Q: durable, bound to a durable direct exchange Q with
 * routing key Q, and no queue arguments — so Python Celery can declare and use it too.
 * The one exception is opt-in: a queue configured with a max priority (`queueMaxPriority` or
 * `queues[Q].maxPriority`) gets a `maxPriority`, as kombu's `Queue(max_priority=...)` does.
 *
 * A quorum queue (`queues[Q].type: 'quorum'`, or the app's `defaultQueueType: 'quorum'`) is
 * declared `type: 'quorum'` and never with a priority (config.ts refuses one); it is durable like
 * every task queue. With a `deliveryLimit` it also gets that `deliveryLimit` and dead-letters to
 * the queue `Q.dead-letter` (RabbitMQ would drop the message without a dead-letter target): that
 * queue must exist first, so whoever consumes Q declares `deadLetterDeclaration(Q)` before it
 * (see the worker).
 */
export function queueDeclaration(name: string, config?: QueueConfig): QueueDeclaration {
  const declaration: QueueDeclaration = { name, durable: true, exchange: name, exchangeType: 'direct', routingKey: name };
  const settings = config?.queues[name];
  if (queueTypeOf(name, config) === 'quorum') {
    declaration.type = 'quorum';
    if (settings?.deliveryLimit !== undefined) {
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
export function isQuorumQueue(queue: string, config: Pick<AppConfig, 'queues' | 'defaultQueueType'>): boolean {
  return queueTypeOf(queue, config) === 'quorum';
}

/** Where undeliverable messages from queue Q go: Q.dead-letter, with the reason in headers. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

/**
 * The dead-letter queue of `queue`: durable, no arguments but its type (`queueTypeOf` its own
 * name; classic when no config is given, as before there was a default type).
 */
export function deadLetterDeclaration(queue: string, config?: Pick<AppConfig, 'queues' | 'defaultQueueType'>): QueueDeclaration {
  const name = deadLetterQueueName(queue);
  return queueTypeOf(name, config) === 'quorum' ? { name, durable: true, type: 'quorum' } : { name, durable: true };
}
