import type { Delivery, Transport } from '../broker/transport.js';
import { deadLetterDeclaration, deadLetterQueueName } from '../app/queues.js';

/** Headers added to a dead-lettered message; the original headers and body are kept intact. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-celeriac-dead-letter-reason',
  error: 'x-celeriac-dead-letter-error',
  queue: 'x-celeriac-dead-letter-queue',
  at: 'x-celeriac-dead-lettered-at',
} as const;

/**
 * Moves a delivery that cannot be processed to `<queue>.dead-letter`, with why in its headers.
 * Contract: the original is acked only after the broker confirmed the dead-letter copy; if that
 * publish fails, the original is requeued instead — the message is never dropped.
 * Resolves true when the message was dead-lettered.
 */
export async function deadLetter(transport: Transport, delivery: Delivery, reason: string, error: string): Promise<boolean> {
  const target = deadLetterQueueName(delivery.queue);
  try {
    await transport.declareQueue(deadLetterDeclaration(delivery.queue));
    await transport.publish(
      {
        ...delivery.properties,
        body: delivery.body,
        headers: {
          ...delivery.properties.headers,
          [DEAD_LETTER_HEADERS.reason]: reason,
          [DEAD_LETTER_HEADERS.error]: error,
          [DEAD_LETTER_HEADERS.queue]: delivery.queue,
          [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
        },
        persistent: true,
      },
      { exchange: '', routingKey: target, mandatory: true },
    );
  } catch {
    delivery.reject(true);
    return false;
  }
  delivery.ack();
  return true;
}
