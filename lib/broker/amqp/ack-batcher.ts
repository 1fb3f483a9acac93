import type { Channel, Message } from 'amqplib';

/** Where a delivery tag of the channel stands. */
type TagState = 'outstanding' | 'ack-queued' | 'settled';

/**
 * The acknowledgements of one channel, sent in batches: an ack is queued and the queue is
 * flushed once per turn of the event loop, where every queued ack that forms an unbroken run
 * from the oldest unsettled delivery goes out as a single `basic.ack` with `multiple` — one
 * frame, and one broker operation, for what were dozens. A worker finishing tasks in the
 * order they arrived acks a whole prefetch window at a time.
 *
 * Invariants:
 * - `order` lists the channel's delivery tags not yet known settled, oldest first (RabbitMQ
 *   numbers a channel's deliveries 1, 2, 3, ...); `states` has an entry for exactly those tags;
 * - a `multiple` ack is only ever sent up to a tag below which no tag is `outstanding`, so it
 *   never acknowledges a delivery that is still running (a tag already rejected is no longer
 *   outstanding at the broker and is not affected);
 * - acks that do not join such a run (an earlier delivery still runs) are sent one by one at the
 *   same flush: no ack waits longer than one turn of the event loop, whatever runs beside it;
 * - a reject is sent at once, so it reaches the broker before any later ack of the channel.
 * When the channel closes, queued acks are dropped: the broker requeues those deliveries, as it
 * would had their frames been lost with the connection (at-least-once).
 */
export class AckBatcher {
  readonly #order: number[] = [];
  #head = 0;
  readonly #states = new Map<number, TagState>();
  #queued = 0;
  #flushScheduled = false;

  constructor(private readonly channel: Channel) {}

  /** Records a delivery handed out on the channel (tags must come in increasing order). */
  delivered(message: Message): void {
    const tag = message.fields.deliveryTag;
    this.#order.push(tag);
    this.#states.set(tag, 'outstanding');
  }

  /** Queues the ack; it is sent at the next flush. Throws (like amqplib) if the channel is closed. */
  ack(message: Message): void {
    const tag = message.fields.deliveryTag;
    if (this.#states.get(tag) !== 'outstanding') return;
    this.#states.set(tag, 'ack-queued');
    this.#queued += 1;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Rejects at once (requeue or dead-letter, as the queue decides). */
  reject(message: Message, requeue: boolean): void {
    const tag = message.fields.deliveryTag;
    this.channel.reject(message, requeue);
    if (this.#states.has(tag)) this.#states.set(tag, 'settled');
    this.#advance();
  }

  /** Sends every queued ack: one `multiple` ack for the unbroken run, single acks for the rest. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#queued === 0) return;
    let upTo: number | null = null;
    while (this.#head < this.#order.length) {
      const tag = this.#order[this.#head];
      const state = this.#states.get(tag);
      if (state === 'outstanding') break;
      if (state === 'ack-queued') {
        upTo = tag;
        this.#queued -= 1;
      }
      this.#states.delete(tag);
      this.#head += 1;
    }
    try {
      if (upTo !== null) this.channel.ack(tagOnly(upTo), true);
      if (this.#queued > 0) {
        for (let i = this.#head; i < this.#order.length; i++) {
          const tag = this.#order[i];
          if (this.#states.get(tag) !== 'ack-queued') continue;
          this.channel.ack(tagOnly(tag), false);
          this.#states.set(tag, 'settled');
        }
        this.#queued = 0;
      }
    } catch {
      // The channel closed under us: the broker requeues what was not acked.
      this.#queued = 0;
    }
    this.#compact();
  }

  /** Drops settled tags from the front. */
  #advance(): void {
    while (this.#head < this.#order.length && this.#states.get(this.#order[this.#head]) === 'settled') {
      this.#states.delete(this.#order[this.#head]);
      this.#head += 1;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

/** What amqplib's ack reads of a message: its delivery tag. */
function tagOnly(deliveryTag: number): Message {
  return { fields: { deliveryTag } } as unknown as Message;
}
