import type { Delivery, OutgoingMessage } from '../broker/transport.js';
import { boundedHeaders } from '../protocol/header-bounds.js';
import type { WorkerHost } from './host.js';

/** What republishing needs of the worker's host: the broker and its delay tiers. */
export type RepublishHost = Pick<WorkerHost, 'transport' | 'delayedDelivery'>;

/**
 * Republishes a delivered task message to the queue it was consumed from, with some headers
 * changed, through the delay tiers when `delayMs` > 0: a retry (`retries` + 1, new `eta`) or an
 * early arrival sent back to wait for its ETA. The body is the delivered bytes — same args,
 * kwargs and embedded workflow (chain, chord, callbacks), so a retried chord header task
 * reports to its chord only at its final outcome. Resolves once the broker confirmed the copy;
 * the caller acks the original only then.
 */
export async function republish(host: RepublishHost, delivery: Delivery, headers: Record<string, unknown>, delayMs: number): Promise<void> {
  const { expiration: _old, ...properties } = delivery.properties;
  // The copy is kept by the broker as the original was (a transient task's retry stays transient).
  const message: OutgoingMessage = {
    ...properties,
    headers: boundedHeaders(headers),
    body: delivery.body,
    persistent: properties.persistent ?? true,
  };
  if (delayMs > 0) {
    await host.delayedDelivery.publish(message, delivery.queue, delayMs);
    return;
  }
  const expires = typeof headers.expires === 'string' ? Date.parse(headers.expires) : NaN;
  if (!Number.isNaN(expires)) message.expiration = String(Math.max(0, expires - Date.now()));
  await host.transport.publish(message, { exchange: '', routingKey: delivery.queue, mandatory: true });
}
