import type { ConsumeMessage, GetMessage, Channel } from 'amqplib';
import type { DeadLetterRecord, Delivery, MessageProperties } from '../transport.js';
import type { AckBatcher } from './ack-batcher.js';
import { splitBrokerHeaders } from './broker-headers.js';
import { fromAmqpProperties } from './properties.js';

/**
 * One channel of one consumer. `open` turns false exactly once, when the channel closes, and
 * no delivery of the lane settles after that: its delivery tags mean nothing on any other
 * channel, and acking them there would make RabbitMQ close it (406 unknown delivery tag).
 */
export interface Lane {
  readonly channel: Channel;
  /** Acks go out batched (see AckBatcher); every delivery of the channel is registered with it. */
  readonly acks: AckBatcher;
  open: boolean;
  unsettled: number;
  /**
   * The consumer tag of each queue consumed on the channel now. A queue whose consumer the
   * broker cancelled has none until it is consumed again; the channel, and what it delivered,
   * stay as they were.
   */
  readonly tags: Map<string, string>;
}

/** A message the broker delivered on a lane, settled (once) on that lane's channel only. */
export class AmqpDelivery implements Delivery {
  readonly body: Buffer;
  readonly properties: MessageProperties;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly deliveryCount: number | undefined;
  readonly deadLetter: DeadLetterRecord | undefined;
  private settled = false;

  /** `countsDeliveries`: the queue is one this transport declared a quorum queue (see splitBrokerHeaders). */
  constructor(
    private readonly lane: Lane,
    private readonly message: ConsumeMessage | GetMessage,
    readonly queue: string,
    countsDeliveries: boolean,
    private readonly onSettled: (lane: Lane) => void,
  ) {
    this.body = message.content;
    this.properties = fromAmqpProperties(message.properties);
    const broker = splitBrokerHeaders(this.properties.headers, countsDeliveries);
    this.properties.headers = broker.headers;
    this.deliveryCount = broker.deliveryCount;
    this.deadLetter = broker.deadLetter;
    this.exchange = message.fields.exchange;
    this.routingKey = message.fields.routingKey;
    this.redelivered = message.fields.redelivered;
  }

  ack(): boolean {
    return this.settle((acks) => acks.ack(this.message));
  }

  reject(requeue: boolean): boolean {
    return this.settle((acks) => acks.reject(this.message, requeue));
  }

  private settle(send: (acks: AckBatcher) => void): boolean {
    if (this.settled || !this.lane.open) return false;
    this.settled = true;
    this.lane.unsettled -= 1;
    try {
      send(this.lane.acks);
    } catch {
      // The channel is closing: the broker requeues the message, so this settle did not count.
      return false;
    } finally {
      this.onSettled(this.lane);
    }
    return true;
  }
}
