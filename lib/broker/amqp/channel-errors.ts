/**
 * What amqplib's errors on a publish channel say, for the publisher to decide what the broker
 * did with the publishes in flight on it.
 */

/** How RabbitMQ names the exchange of a publish it refuses, before `'<name>' in vhost '...`. */
const REFUSALS = ["NOT_FOUND - no exchange", 'ACCESS_REFUSED - access to exchange', 'ACCESS_REFUSED - cannot publish to internal exchange'];

/**
 * Which of `candidates` (the exchanges written to on the channel) a channel error refuses a
 * publish to: 404 "no exchange 'x' in vhost '/'", 403 "access to exchange 'x' in vhost '/'
 * refused ...", 403 "cannot publish to internal exchange 'x' in vhost '/'". The name is matched
 * whole against the candidates, not parsed out of the text: a name may itself hold quotes.
 * Undefined when the error is no such refusal or names none of them.
 */
export function refusedExchangeOf(reason: string, candidates: Iterable<string>): string | undefined {
  for (const name of candidates) {
    if (REFUSALS.some((refusal) => reason.includes(`${refusal} '${name}' in vhost '`))) return name;
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
