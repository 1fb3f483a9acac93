import type { Delivery, OutgoingMessage } from '../broker/transport.js';
import { serializerForContentType, serializerNamed } from './serializers.js';

/**
 * Messages of Celery's broadcast channels — remote control (`celery.pidbox`) and events
 * (`celeryev`): JSON bodies written transient (delivery mode 1), msgpack accepted on input, and
 * the Lamport clock kombu keeps per process and stamps on every such message.
 */

/** Lamport clock, as kombu keeps one per process (advanced on every send, adjusted on receive). */
export class LamportClock {
  #value = 0;
  forward(): number {
    return ++this.#value;
  }
  /** Ignores anything but a safe integer: a peer's clock is input, and 1e308 would stop this one counting. */
  adjust(other: unknown): void {
    if (typeof other === 'number' && Number.isSafeInteger(other))
      this.#value = Math.min(Math.max(this.#value, other) + 1, Number.MAX_SAFE_INTEGER);
  }
  get value(): number {
    return this.#value;
  }
}

export function encodeJson(value: unknown, headers: Record<string, unknown>): OutgoingMessage {
  const json = serializerNamed('json')!;
  return { body: json.encode(value), contentType: json.contentType, contentEncoding: json.contentEncoding, headers, persistent: false };
}

/** The body of a mailbox message, or undefined when it cannot be decoded. */
export function decodeBody(delivery: Delivery): unknown {
  const serializer = serializerForContentType(delivery.properties.contentType || 'application/json');
  if (!serializer) return undefined;
  try {
    return serializer.decode(delivery.body);
  } catch {
    return undefined;
  }
}
