import type { QueueDeclaration } from '../broker/transport.js';
import type { AppConfig } from './config.js';

/**
 * How a task queue is declared, by producers and workers alike, so both declare it with the
 * same arguments (RabbitMQ refuses a re-declaration with different ones). It matches what
 * Celery/kombu declare for a queue named Q: durable, bound to a durable direct exchange Q with
 * routing key Q, and no queue arguments — so Python Celery can declare and use it too.
 * The one exception is opt-in: a queue configured with a max priority (`queueMaxPriority` or
 * `queues[Q].maxPriority`) gets `x-max-priority`, as kombu's `Queue(max_priority=...)` does.
 */
export function queueDeclaration(name: string, config?: Pick<AppConfig, 'queueMaxPriority' | 'queues'>): QueueDeclaration {
  const declaration: QueueDeclaration = { name, durable: true, exchange: name, exchangeType: 'direct', routingKey: name };
  const settings = config?.queues[name];
  const maxPriority = settings && settings.maxPriority !== undefined ? settings.maxPriority : (config?.queueMaxPriority ?? null);
  if (maxPriority !== null) declaration.arguments = { 'x-max-priority': maxPriority };
  return declaration;
}

/** Where undeliverable messages from queue Q go: Q.dead-letter, with the reason in headers. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

export function deadLetterDeclaration(queue: string): QueueDeclaration {
  return { name: deadLetterQueueName(queue), durable: true };
}
