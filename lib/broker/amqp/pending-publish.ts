import type { ConfirmChannel, Options } from 'amqplib';
import type { PublishTarget } from '../transport.js';

/** One unsettled publish of the Publisher (see publisher.ts for the invariants it keeps). */
export interface PendingPublish {
  readonly seq: number;
  readonly target: PublishTarget;
  /** Where it was last written (target's, or what target.routeAtWrite returned then). */
  written: { exchange: string; routingKey: string };
  readonly body: Buffer;
  readonly options: Options.Publish;
  /**
   * performance.now() when publish() was called, then when its last write reached the socket
   * (see markFlushed): the broker cannot confirm what it has not been sent, so the timeout
   * never counts time this process spent busy before writing it.
   */
  sentAt: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** The channel it was last written to; null while it waits in the backlog. */
  channel: ConfirmChannel | null;
  /** The broker's reply text when it returned this publish on `channel`; the confirm then rejects it. */
  returned: string | null;
  channelFailures: number;
  /** performance.now() of the broker's first nack of it (it is written again until confirmTimeoutMs after). */
  firstNackAt?: number;
  /** When it was last written, in this publisher's write order (a channel takes writes in this order). */
  writeOrder: number;
  /** The messageId or correlationId it is matched by (unstamped), held in Publisher.keysInFlight until it settles; null when stamped. */
  readonly claimedKey: string | null;
}
