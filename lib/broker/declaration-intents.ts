import { ConfigError } from '../errors/errors.js';
import type { QueueDeclaration, QueueType } from './transport.js';

/** The intents a QueueDeclaration may carry; each adapter maps them to its broker's terms. */
const QUEUE_INTENTS = ['type', 'maxPriority', 'deadLetterTo', 'deadLetterStrategy', 'messageTtl', 'expires', 'deliveryLimit'];

/**
 * Refuses, before anything reaches a broker, a declaration that no broker could honour as meant.
 * Every adapter calls it before it declares.
 * - Broker arguments instead of intents (`arguments`, the form before intents, from JavaScript
 *   callers or transports written for it): an adapter would declare a plain queue without them,
 *   silently, and a broker refuses a later declaration of the same queue with other arguments.
 * - A quorum queue that is not durable, exclusive or auto-delete: quorum queues are replicated
 *   and outlive their declarer (RabbitMQ answers PRECONDITION_FAILED). Such queues stay classic.
 * - A quorum-only intent (`deadLetterStrategy`) on a classic queue, which RabbitMQ would ignore.
 */
export function checkQueueIntents(declaration: QueueDeclaration): void {
  const { name, type } = declaration;
  if ('arguments' in declaration && (declaration as { arguments?: unknown }).arguments !== undefined) {
    throw new ConfigError(
      'arguments',
      `queue ${name}: declared with broker arguments; a queue is declared by intent (${QUEUE_INTENTS.join(', ')})`,
    );
  }
  if (type === 'quorum') {
    const refused = [
      declaration.durable === false ? 'not durable' : null,
      declaration.exclusive === true ? 'exclusive' : null,
      declaration.autoDelete === true ? 'auto-delete' : null,
    ].filter((what) => what !== null);
    if (refused.length > 0)
      throw new ConfigError('type', `queue ${name}: a quorum queue cannot be ${refused.join(' or ')}; declare it classic`);
  } else if (declaration.deadLetterStrategy !== undefined) {
    throw new ConfigError('deadLetterStrategy', `queue ${name}: deadLetterStrategy needs type: 'quorum'`);
  }
}

/**
 * The text of a refusal to declare `queue` as `asked` because it exists with another type
 * (RabbitMQ keeps a queue's type for the queue's life): what exists, what was asked, where that
 * comes from, and where the way out is written. Both adapters say it in these words.
 */
export function queueTypeMismatchText(queue: string, asked: QueueType, existing: string): string {
  return (
    `queue '${queue}' exists as a ${existing} queue and was declared here as a ${asked} queue ` +
    `(the app's defaultQueueType, or queues['${queue}'].type): RabbitMQ never changes the type of a queue. ` +
    `Declare it as ${existing}, or move its messages to a new ${asked} queue (docs/routing.md, "Changing a queue's type")`
  );
}
