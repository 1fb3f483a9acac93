import type { QueueDeclaration } from '../transport.js';

/**
 * The RabbitMQ queue arguments (`x-...`) that carry a declaration's intents: the one place that
 * knows them. A declaration without intents has no arguments (a plain queue, as Celery/kombu
 * declare it), so other clients can declare the same queue. Mapping, for RabbitMQ 3.10:
 * type → x-queue-type, maxPriority → x-max-priority, messageTtl → x-message-ttl (ms),
 * expires → x-expires (ms), deliveryLimit → x-delivery-limit, deadLetterTo → x-dead-letter-exchange
 * (+ x-dead-letter-routing-key; a queue is reached through the default exchange ''),
 * deadLetterStrategy 'at-least-once' → x-dead-letter-strategy with x-overflow: reject-publish
 * (RabbitMQ accepts that strategy only with that overflow mode; without a length limit it never
 * refuses anything).
 */
export function queueArguments(queue: QueueDeclaration): Record<string, unknown> | undefined {
  const args: Record<string, unknown> = {};
  if (queue.type === 'quorum') args['x-queue-type'] = 'quorum';
  if (queue.maxPriority !== undefined) args['x-max-priority'] = queue.maxPriority;
  if (queue.messageTtl !== undefined) args['x-message-ttl'] = queue.messageTtl;
  if (queue.expires !== undefined) args['x-expires'] = queue.expires;
  if (queue.deliveryLimit !== undefined) args['x-delivery-limit'] = queue.deliveryLimit;
  const target = queue.deadLetterTo;
  if (target && 'queue' in target) {
    args['x-dead-letter-exchange'] = '';
    args['x-dead-letter-routing-key'] = target.queue;
  } else if (target) {
    args['x-dead-letter-exchange'] = target.exchange;
    if (target.routingKey !== undefined) args['x-dead-letter-routing-key'] = target.routingKey;
  }
  if (queue.deadLetterStrategy === 'at-least-once') {
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  }
  return Object.keys(args).length > 0 ? args : undefined;
}
