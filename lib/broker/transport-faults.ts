import { TransportError } from '../errors/errors.js';
import { isChannelStateError, reasonOf } from './amqp/channel-errors.js';

/**
 * Whether an error met on the broker is an outage that may pass (true: the broker or channel
 * went away, or ran short for a while) or a refusal of the operation itself that would be
 * refused again (false); undefined when it is no broker error. Reads a TransportError's reason,
 * and the broker client's own errors where one escapes unmapped (a channel closing under an
 * operation, a close with a reply code) through the same mapping the adapter uses.
 */
export function isTransientBrokerFault(error: unknown): boolean | undefined {
  if (error instanceof TransportError) return error.transient;
  if (isChannelStateError(error)) return true;
  const reason = reasonOf(error);
  return reason === undefined ? undefined : reason === 'unavailable';
}
