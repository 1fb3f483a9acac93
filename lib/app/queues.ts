import type { QueueDeclaration } from '../broker/transport.js';

/**
 * How a task queue is declared, by producers and workers alike, so both declare it with the
 * same arguments (RabbitMQ refuses a re-declaration with different ones). It matches what
 * Celery/kombu declare for a queue named Q: durable, bound to a durable direct exchange Q with
 * routing key Q, and no queue arguments — so Python Celery can declare and use it too.
 */
export function queueDeclaration(name: string): QueueDeclaration {
  return { name, durable: true, exchange: name, exchangeType: 'direct', routingKey: name };
}

/** Where undeliverable messages from queue Q go: Q.dead-letter, with the reason in headers. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

export function deadLetterDeclaration(queue: string): QueueDeclaration {
  return { name: deadLetterQueueName(queue), durable: true };
}
