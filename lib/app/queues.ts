import type { QueueDeclaration } from '../broker/transport.js';
import type { AppConfig } from './config.js';

/**
 * How a task queue is declared, by producers and workers alike, so both declare it with the
 * same arguments (RabbitMQ refuses a re-declaration with different ones). It matches what
 * Celery/kombu declare for a queue named Q: durable, bound to a durable direct exchange Q with
 * routing key Q, and no queue arguments — so Python Celery can declare and use it too.
 * The one exception is opt-in: a queue configured with a max priority (`queueMaxPriority` or
 * `queues[Q].maxPriority`) gets `x-max-priority`, as kombu's `Queue(max_priority=...)` does.
 *
 * A quorum queue (`queues[Q].type: 'quorum'`) gets `x-queue-type: quorum` and never a priority
 * (config.ts refuses one); it is durable like every task queue. With a `deliveryLimit` it also
 * gets `x-delivery-limit` and dead-letters, through the default exchange, to `Q.dead-letter`
 * (RabbitMQ would drop the message without a dead-letter target): that queue must exist first,
 * so whoever consumes Q declares `deadLetterDeclaration(Q)` before it (see the worker).
 */
export function queueDeclaration(name: string, config?: Pick<AppConfig, 'queueMaxPriority' | 'queues'>): QueueDeclaration {
  const declaration: QueueDeclaration = { name, durable: true, exchange: name, exchangeType: 'direct', routingKey: name };
  const settings = config?.queues[name];
  if (settings?.type === 'quorum') {
    declaration.arguments = { 'x-queue-type': 'quorum' };
    if (settings.deliveryLimit !== undefined) {
      Object.assign(declaration.arguments, {
        'x-delivery-limit': settings.deliveryLimit,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': deadLetterQueueName(name),
      });
    }
    return declaration;
  }
  const maxPriority = settings && settings.maxPriority !== undefined ? settings.maxPriority : (config?.queueMaxPriority ?? null);
  if (maxPriority !== null) declaration.arguments = { 'x-max-priority': maxPriority };
  return declaration;
}

/** True when the queue dead-letters into `Q.dead-letter` (a quorum queue with a delivery limit): declare that one first. */
export function deadLettersToQueue(declaration: QueueDeclaration): boolean {
  return declaration.arguments?.['x-dead-letter-routing-key'] !== undefined;
}

/** True when the app declares `queue` as a quorum queue (its deliveries carry the broker's `x-delivery-count`). */
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
