import { TransportError, type TransportErrorReason } from '../../errors/errors.js';
import { queueTypeMismatchText } from '../declaration-intents.js';
import type { QueueDeclaration } from '../transport.js';

/**
 * What amqplib's errors say, in the transport's words: the one place that reads AMQP reply codes
 * (amqplib puts a channel or connection close's reply code in `error.code`).
 */

/**
 * AMQP 0-9-1 reply codes → TransportError reasons. 'unavailable' are those of a close that says
 * nothing about the operation and may pass: 320 CONNECTION_FORCED (the broker or an operator closed
 * the connection), 504 CHANNEL_ERROR (a channel not open, as after a reconnect), 506 RESOURCE_ERROR
 * (the broker ran short of a resource), 541 INTERNAL_ERROR. Every other code refuses the operation
 * itself and would refuse it again.
 */
const REPLY_CODES: ReadonlyMap<number, TransportErrorReason> = new Map<number, TransportErrorReason>([
  [311, 'invalid'], // CONTENT_TOO_LARGE
  [313, 'not-allowed'], // NO_CONSUMERS
  [320, 'unavailable'], // CONNECTION_FORCED
  [402, 'invalid'], // INVALID_PATH
  [403, 'access-refused'], // ACCESS_REFUSED
  [404, 'not-found'], // NOT_FOUND
  [405, 'resource-locked'], // RESOURCE_LOCKED
  [406, 'precondition-failed'], // PRECONDITION_FAILED
  [501, 'invalid'], // FRAME_ERROR
  [502, 'invalid'], // SYNTAX_ERROR
  [503, 'invalid'], // COMMAND_INVALID
  [504, 'unavailable'], // CHANNEL_ERROR
  [505, 'invalid'], // UNEXPECTED_FRAME
  [506, 'unavailable'], // RESOURCE_ERROR
  [530, 'not-allowed'], // NOT_ALLOWED
  [540, 'not-allowed'], // NOT_IMPLEMENTED
  [541, 'unavailable'], // INTERNAL_ERROR
]);

/** The reason of an amqplib error carrying a reply code, or undefined for any other error. */
export function reasonOf(error: unknown): TransportErrorReason | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'number') return undefined;
  return REPLY_CODES.get(code) ?? 'invalid';
}

/**
 * An error of an operation as the transport's callers see it: a broker refusal (reply code) or
 * an operation on a closing channel becomes a TransportError with its reason; anything else
 * (celeriac's own errors, socket errors, amqplib's encoding RangeError) passes unchanged.
 */
export function toTransportError(error: unknown, url: string): unknown {
  if (error instanceof TransportError) return error;
  const reason = isChannelStateError(error) ? 'unavailable' : reasonOf(error);
  if (reason === undefined) return error;
  const message = serverText((error as Error).message ?? String(error));
  return new TransportError(reason, `broker ${url}: ${message}`, { cause: error });
}

/**
 * The error of a queue declaration: as toTransportError, except that RabbitMQ's refusal of a
 * queue that exists with another type (406 "inequivalent arg 'x-queue-type' for queue 'q' in
 * vhost '/': received the value 'quorum' of type 'longstr' but current is none") becomes a
 * precondition-failed TransportError that says so in celeriac's words (queueTypeMismatchText).
 */
export function toDeclareError(error: unknown, queue: QueueDeclaration, url: string): unknown {
  const asked = queue.type ?? 'classic';
  const existing = reasonOf(error) === 'precondition-failed' ? existingQueueType(String((error as Error).message)) : undefined;
  if (existing === undefined || existing === asked) return toTransportError(error, url);
  return new TransportError('precondition-failed', `broker ${url}: ${queueTypeMismatchText(queue.name, asked, existing)}`, {
    cause: error,
  });
}

/** The existing queue's type in RabbitMQ's x-queue-type refusal ('none': declared without one, so classic). */
function existingQueueType(text: string): string | undefined {
  if (!text.includes("inequivalent arg 'x-queue-type'")) return undefined;
  const current = /but current is (none|the value '([^']*)')/.exec(text);
  if (!current) return undefined;
  return current[1] === 'none' ? 'classic' : current[2];
}

/**
 * Which of `candidates` (the exchanges written to on the channel) a channel error refuses a
 * publish to: a close with reason not-found (404 "no exchange 'x' in vhost '/'") or
 * access-refused (403 "access to exchange 'x' in vhost '/' refused ...", 403 "cannot publish to
 * internal exchange 'x' in vhost '/'"). The name is matched whole against the candidates, not
 * parsed out of the text: a name may itself hold quotes. Undefined when the error is no such
 * refusal or names none of them.
 */
/** RabbitMQ's texts for a refused exchange, each followed by the quoted name and " in vhost '". */
const EXCHANGE_REFUSALS = ['no exchange ', 'access to exchange ', 'internal exchange '];

export function refusedExchangeOf(error: unknown, candidates: Iterable<string>): string | undefined {
  const reason = reasonOf(error);
  if (reason !== 'not-found' && reason !== 'access-refused') return undefined;
  const text = String((error as Error).message ?? error);
  // A topic-permission refusal ("write access to topic 'k' in exchange 'x' ...") is about one
  // routing key, not the exchange: the other publishes to it stand.
  if (text.includes("topic '")) return undefined;
  for (const name of candidates) {
    if (EXCHANGE_REFUSALS.some((form) => text.includes(`${form}'${name}' in vhost '`))) return name;
  }
  return undefined;
}

/** The broker's own text in amqplib's channel-close message ('... with message "<text>"'), else the message. */
export function serverText(reason: string): string {
  return /with message "(.*)"$/s.exec(reason)?.[1] ?? reason;
}

/** amqplib's error for an operation on a channel or connection that is closing or closed. */
export function isChannelStateError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'IllegalOperationError';
}
