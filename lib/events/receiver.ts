import type { App } from '../app/app.js';
import type { ConsumerHandle } from '../broker/transport.js';
import { decodeBody } from '../protocol/broadcast-message.js';
import { EVENT_EXCHANGE, eventQueue, type CeleryEvent } from './dispatcher.js';

/**
 * Receives Celery events (from celeriac and Python workers alike) on a private queue bound to
 * `celeryev` with `routingKey` ('#' = all; 'task.#' = task events only).
 */
export async function receiveEvents(
  app: App,
  onEvent: (event: CeleryEvent) => void,
  routingKey = '#',
): Promise<{ close(): Promise<void> }> {
  const transport = app.transport;
  const queue = eventQueue(routingKey);
  await transport.declareExchange({ name: EVENT_EXCHANGE, type: 'topic', durable: true });
  await transport.declareQueue(queue);
  const consumer: ConsumerHandle = await transport.consume([queue.name], { prefetch: 256 }, (delivery) => {
    delivery.ack();
    const body = decodeBody(delivery);
    if (typeof body === 'object' && body !== null && typeof (body as CeleryEvent).type === 'string') onEvent(body as CeleryEvent);
  });
  return {
    async close() {
      await consumer.cancel().catch(() => undefined);
      await transport.deleteQueue(queue.name).catch(() => undefined);
    },
  };
}
