import { EventEmitter } from 'node:events';
import type { Options } from 'amqplib';
import type { ConnectionManager } from '../../lib/broker/amqp/connection.js';
import { Publisher } from '../../lib/broker/amqp/publisher.js';
import { silentLogger } from '../../lib/log/logger.js';

/** One publish written to a FakeChannel; `confirm(null)` is the broker's ack (of its delivery tag alone), `confirm(error)` its nack. */
export interface FakePublish {
  exchange: string;
  routingKey: string;
  /** The message id (or '' when none), to tell publishes apart. */
  id: string;
  options: Options.Publish;
  confirm: (error: unknown) => void;
}

/**
 * An amqplib confirm channel the spec plays the broker for: it records publishes (with their
 * routes) and answers them by hand. Like amqplib, it refuses to encode a routing key or message
 * id over 255 bytes by throwing before anything is written or a confirm slot is taken.
 */
export class FakeChannel extends EventEmitter {
  readonly published: FakePublish[] = [];

  publish(exchange: string, routingKey: string, _body: Buffer, options: Options.Publish): boolean {
    if (Buffer.byteLength(routingKey) > 255 || String(options.messageId ?? '').length > 255) {
      throw new TypeError("Field 'messageId' is the wrong type; must be a string (up to 255 chars)");
    }
    // The broker's delivery tags: 1, 2, 3, ... in write order, on each channel.
    const deliveryTag = this.published.length + 1;
    // The options are amqplib's to encode during publish; a copy is what the spec looks at.
    const written = { ...options, headers: options.headers && { ...options.headers } };
    const confirm = (error: unknown) => this.emit(error ? 'nack' : 'ack', { deliveryTag, multiple: false });
    this.published.push({ exchange, routingKey, id: String(options.messageId ?? ''), options: written, confirm });
    return true;
  }

  /** What the broker sends back for an unroutable mandatory publish. */
  returnPublish(index: number): void {
    const { options } = this.published[index];
    this.emit('return', { fields: { replyCode: 312, replyText: 'NO_ROUTE' }, properties: { ...options }, content: Buffer.alloc(0) });
  }

  /** What RabbitMQ does on a publish to an exchange it refuses: a channel error, then the channel is gone. */
  closeWithError(text: string): void {
    // As amqplib reports a server close: the reply code in `code`.
    this.emit('error', Object.assign(new Error(`Channel closed by server: 404 (NOT-FOUND) with message "${text}"`), { code: 404 }));
    this.emit('close');
  }

  close(): Promise<void> {
    this.emit('close');
    return Promise.resolve();
  }
}

/** A Publisher whose every channel is a FakeChannel, listed in `channels` in the order opened. */
export function publisherOnFakeChannels(confirmTimeoutMs = 10_000): { publisher: Publisher; channels: FakeChannel[] } {
  const channels: FakeChannel[] = [];
  const connections = {
    url: 'amqp://fake',
    acquire: async () => ({
      createConfirmChannel: async () => {
        channels.push(new FakeChannel());
        return channels.at(-1)!;
      },
    }),
  } as unknown as ConnectionManager;
  return { publisher: new Publisher(connections, Infinity, confirmTimeoutMs, 10, silentLogger()), channels };
}
