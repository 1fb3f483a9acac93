import { PublishError } from '../../errors/errors.js';
import { refusedExchangeOf, serverText } from './channel-errors.js';
import { describeError } from './connection.js';
import type { PendingPublish } from './pending-publish.js';

/** A publish in flight on channels closed by the broker this often (connection still up) is given up. */
const MAX_CHANNEL_FAILURES = 3;

export interface ClosedChannelFates {
  /** Publishes settled now: rejected with the error, or resolved (undefined: the broker took it). */
  settled: Array<[PendingPublish, Error | undefined]>;
  resend: PendingPublish[];
  brokerReason: string | null;
}

/**
 * What becomes of the unconfirmed publishes of a publish channel that is gone (connection lost,
 * or the broker closed it). They are written again on the next channel (`resend`), except:
 * - when the broker closed it for refusing a publish's exchange (404 no exchange, 403 access
 *   refused or internal exchange), the broker had processed, in order, every publish written
 *   before the refused one and dropped every one after it. Those before are settled as it
 *   handled them (returned: 'unroutable'; else taken, though the confirm that would have said
 *   so is lost with the channel) and not written again: writing them again would duplicate
 *   them. (A queue that refuses publishes when full, `x-overflow: reject-publish`, nacks after
 *   routing; such a nack lost with the channel goes unseen. celeriac declares no such queue.)
 *   The refused one, and any other to that exchange, rejects as 'unroutable';
 * - one in flight on too many broker-closed channels rejects as 'closed';
 * - once the transport is closing, every pending publish rejects as 'closed'.
 *
 * Each entry is detached from the channel (channel and returned cleared; a broker-closed
 * channel counts against it). `brokerReason`: the broker's reason when it closed the channel
 * for something other than a refused exchange (worth a log line), else null.
 */
export function fatesOfClosedChannel(
  onChannel: PendingPublish[],
  channelError: unknown,
  closing: boolean,
  url: string,
): ClosedChannelFates {
  const reason = describeError(channelError);
  const refusedExchange = channelError ? refusedExchangeOf(channelError, new Set(onChannel.map((e) => e.written.exchange))) : undefined;
  // The broker stopped at the first publish to the refused exchange, in write order.
  // Without it (not found among them) nothing is known of the others: they are written again.
  const refusedOrders = onChannel.filter((e) => e.written.exchange === refusedExchange).map((e) => e.writeOrder);
  const refusedAt = refusedOrders.length > 0 ? Math.min(...refusedOrders) : -Infinity;
  const fates: ClosedChannelFates = {
    settled: [],
    resend: [],
    brokerReason: channelError && refusedExchange === undefined ? reason : null,
  };
  for (const entry of onChannel) {
    const returned = entry.returned;
    entry.channel = null;
    entry.returned = null;
    if (channelError && refusedExchange === undefined) entry.channelFailures += 1;
    if (closing) {
      fates.settled.push([entry, new PublishError('closed', `broker ${url}: connection lost while closing`)]);
    } else if (refusedExchange !== undefined && entry.written.exchange === refusedExchange) {
      fates.settled.push([entry, new PublishError('unroutable', `broker ${url} refused the publish: ${serverText(reason)}`)]);
    } else if (entry.writeOrder < refusedAt) {
      const { exchange, routingKey } = entry.written;
      const error =
        returned === null
          ? undefined
          : new PublishError('unroutable', `unroutable publish to exchange '${exchange}' routing key '${routingKey}' (${returned})`);
      fates.settled.push([entry, error]);
    } else if (entry.channelFailures >= MAX_CHANNEL_FAILURES) {
      fates.settled.push([entry, new PublishError('closed', `broker ${url} closed the publish channel: ${reason}`)]);
    } else fates.resend.push(entry);
  }
  return fates;
}
