/**
 * What amqplib's errors on a publish channel say, for the publisher to decide what the broker
 * did with the publishes in flight on it.
 */

/**
 * The exchange named by a channel error that refuses a publish to it: 404 "no exchange 'x'",
 * 403 "access to exchange 'x' ... refused", 403 "cannot publish to internal exchange 'x'".
 */
export function refusedExchangeOf(reason: string): string | undefined {
  return /(?:NOT_FOUND|ACCESS_REFUSED) - (?:no exchange|access to exchange|cannot publish to internal exchange) '([^']*)'/.exec(reason)?.[1];
}

/** The broker's own text in amqplib's channel-close message ('... with message "<text>"'), else the message. */
export function serverText(reason: string): string {
  return /with message "(.*)"$/s.exec(reason)?.[1] ?? reason;
}

/** amqplib's error for an operation on a channel or connection that is closing or closed. */
export function isChannelStateError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'IllegalOperationError';
}
