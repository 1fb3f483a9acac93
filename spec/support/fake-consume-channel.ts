import { EventEmitter } from 'node:events';
import type { ConsumeMessage } from 'amqplib';
import type { ConnectionManager } from '../../lib/broker/amqp/connection.js';
import { Consumers, type ConsumedQueues } from '../../lib/broker/amqp/consumer.js';
import { silentLogger } from '../../lib/log/logger.js';
import type { Logger } from 'winston';

type ConsumeCallback = (message: ConsumeMessage | null) => void;

/**
 * An amqplib channel the spec plays the broker for, on the consuming side: it records consumers,
 * settlements and its close, and delivers or cancels (basic.cancel) by hand. Delivery tags count
 * 1, 2, 3, ... per channel, as RabbitMQ's do.
 */
export class FakeConsumeChannel extends EventEmitter {
  /** Live consumers by tag, each with its queue. */
  readonly consumers = new Map<string, { queue: string; callback: ConsumeCallback }>();
  /** Every basic.consume, in order (queue names). */
  readonly consumed: string[] = [];
  readonly acks: { tag: number; multiple: boolean }[] = [];
  readonly rejects: { tag: number; requeue: boolean }[] = [];
  closed = false;
  #nextTag = 1;
  #nextConsumer = 1;

  prefetch(): Promise<void> {
    return Promise.resolve();
  }

  consume(queue: string, callback: ConsumeCallback): Promise<{ consumerTag: string }> {
    const consumerTag = `ctag-${this.#nextConsumer++}`;
    this.consumers.set(consumerTag, { queue, callback });
    this.consumed.push(queue);
    return Promise.resolve({ consumerTag });
  }

  cancel(consumerTag: string): Promise<void> {
    this.consumers.delete(consumerTag);
    return Promise.resolve();
  }

  ack(message: { fields: { deliveryTag: number } }, multiple = false): void {
    this.acks.push({ tag: message.fields.deliveryTag, multiple });
  }

  reject(message: { fields: { deliveryTag: number } }, requeue = true): void {
    this.rejects.push({ tag: message.fields.deliveryTag, requeue });
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.emit('close');
    }
    return Promise.resolve();
  }

  /** The broker delivers a message from `queue` to its consumer; returns the delivery tag. */
  deliver(queue: string, body = 'm'): number {
    const [, consumer] = [...this.consumers].find(([, c]) => c.queue === queue) ?? [];
    if (!consumer) throw new Error(`no consumer of ${queue} on this channel`);
    const deliveryTag = this.#nextTag++;
    consumer.callback({
      content: Buffer.from(body),
      fields: { deliveryTag, redelivered: false, exchange: '', routingKey: queue, consumerTag: '' },
      properties: { headers: {} },
    } as unknown as ConsumeMessage);
    return deliveryTag;
  }

  /** The broker cancels the consumer of `queue` (basic.cancel): amqplib calls its callback with null and forgets it. */
  brokerCancel(queue: string): void {
    const entry = [...this.consumers].find(([, c]) => c.queue === queue);
    if (!entry) throw new Error(`no consumer of ${queue} on this channel`);
    this.consumers.delete(entry[0]);
    entry[1].callback(null);
  }
}

/** Queues as a spec wants them: which exist, which the transport declared (and so re-declares), and what was asked. */
export class FakeQueues implements ConsumedQueues {
  readonly existing = new Set<string>();
  readonly owned = new Set<string>();
  /** Every restoreQueue call, in order. */
  readonly restored: string[] = [];

  countsDeliveries(): boolean {
    return false;
  }

  restoreQueue(queue: string): Promise<boolean> {
    this.restored.push(queue);
    if (this.owned.has(queue)) this.existing.add(queue);
    return Promise.resolve(this.existing.has(queue));
  }
}

/** Consumers whose every channel is a FakeConsumeChannel (listed in `channels`, in the order opened), with tiny backoff. */
export function consumersOnFakeChannels(logger: Logger = silentLogger()): {
  consumers: Consumers;
  channels: FakeConsumeChannel[];
  queues: FakeQueues;
} {
  const channels: FakeConsumeChannel[] = [];
  const connection = {
    createChannel: () => {
      channels.push(new FakeConsumeChannel());
      return Promise.resolve(channels.at(-1)!);
    },
  };
  const connections = { acquire: () => Promise.resolve(connection), connection, url: 'amqp://fake' } as unknown as ConnectionManager;
  const queues = new FakeQueues();
  return { consumers: new Consumers(connections, queues, { initialMs: 5, maxMs: 20 }, logger), channels, queues };
}
