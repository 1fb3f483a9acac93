import type { ConfirmChannel, Options } from 'amqplib';
import type { OutgoingMessage, PublishTarget } from '../transport.js';
import { PUBLISH_SEQ_HEADER, returnKeyOf, toPublishOptions } from './properties.js';
import type { ReusedHeaderTable } from './reused-header-table.js';

/** One unsettled publish of the Publisher (see publisher.ts for the invariants it keeps). */
export interface PendingPublish {
  readonly seq: number;
  readonly target: PublishTarget;
  /** Where it was last written (target's, or what target.routeAtWrite returned then). */
  written: { exchange: string; routingKey: string };
  /**
   * The message as the caller gave it (not copied: it must not change until the publish
   * settles). amqplib's options are built from it at each write (publishOptionsAt), so an
   * unconfirmed publish keeps no second object of its properties.
   */
  readonly message: OutgoingMessage;
  /**
   * performance.now() (whole ms, rounded up) when publish() was called, then when its last write reached the socket
   * (see markFlushed): the broker cannot confirm what it has not been sent, so the timeout
   * never counts time this process spent busy before writing it.
   */
  sentAt: number;
  /**
   * Settles publish()'s promise: with nothing once the broker took it, with a rejected promise
   * to reject it (a pending publish keeps one resolving function, not two).
   */
  readonly resolve: (outcome: Promise<never> | undefined) => void;
  /** The channel it was last written to; null while it waits in the backlog. */
  channel: ConfirmChannel | null;
  /** The broker's reply text when it returned this publish on `channel`; the confirm then rejects it. */
  returned: string | null;
  channelFailures: number;
  /** performance.now() of the broker's first nack of it (it is written again until confirmTimeoutMs after). */
  firstNackAt?: number;
  /** When it was last written, in this publisher's write order (a channel takes writes in this order). */
  writeOrder: number;
  /**
   * The messageId or correlationId it is matched by (unstamped), held in Publisher.keysInFlight
   * until it settles; null when stamped (with its seq, at each write).
   */
  readonly claimedKey: string | null;
}

/**
 * amqplib's options for one write of the publish (amqplib encodes them before publish returns:
 * nothing of them outlives the write). A stamped publish gets PUBLISH_SEQ_HEADER on a copy of
 * its headers; the headers go to amqplib as the reused table (see reused-header-table.ts).
 */
export function publishOptionsOf(entry: PendingPublish, table: ReusedHeaderTable): Options.Publish {
  const options = toPublishOptions(entry.message, entry.target.mandatory ?? true, entry.claimedKey === null ? entry.seq : null);
  if (options.headers) options.headers = table.fill(options.headers as Record<string, unknown>);
  return options;
}

/** The key a basic.return of this publish carries (see returnKeyOf): its stamp, else its message's ids. */
export function returnKeyOfPending(entry: PendingPublish): string {
  return entry.claimedKey === null ? returnKeyOf({ headers: { [PUBLISH_SEQ_HEADER]: entry.seq } }) : returnKeyOf(entry.message);
}

/** Where a publish was last written, as errors name it (built only for an error). */
export function whereWritten(entry: PendingPublish): string {
  return `exchange '${entry.written.exchange}' routing key '${entry.written.routingKey}'`;
}

/**
 * A time in ms rounded up to a whole number: V8 keeps a small integer in the field itself,
 * where a fraction takes a heap number of its own (16 bytes per pending publish).
 */
export function wholeMs(ms: number): number {
  return Math.ceil(ms);
}
