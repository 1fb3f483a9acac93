import { ConfigError } from '../errors/errors.js';
import type { QueueDeclaration } from './transport.js';

/** The intents a QueueDeclaration may carry; each adapter maps them to its broker's terms. */
const QUEUE_INTENTS = ['type', 'maxPriority', 'deadLetterTo', 'messageTtl', 'expires', 'deliveryLimit'];

/**
 * Refuses a declaration that carries broker arguments instead of intents (`arguments`, the form
 * before intents, from JavaScript callers or transports written for it): an adapter would
 * declare a plain queue without them, silently, and a broker refuses a later declaration of the
 * same queue with other arguments. Every adapter calls it before it declares.
 */
export function checkQueueIntents(declaration: QueueDeclaration): void {
  if ('arguments' in declaration && (declaration as { arguments?: unknown }).arguments !== undefined) {
    throw new ConfigError(
      'arguments',
      `queue ${declaration.name}: declared with broker arguments; a queue is declared by intent (${QUEUE_INTENTS.join(', ')})`,
    );
  }
}
