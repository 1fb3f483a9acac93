import type { DeadLetterRecord, Delivery, MessageProperties } from '../transport.js';
import type { Consumer, Queue, Stored } from './broker-state.js';
import { deadLetter, isQuorum, returnToQueue } from './queue-semantics.js';

/**
 * Handing a memory:// queue's messages to its consumers, and settling them: deliveries go out
 * from a later macrotask (never inside publish/ack/consume), round-robin over the consumers with
 * room under their prefetch; a delivery settles once, while its consumer holds it.
 */
export class MemoryDelivery implements Delivery {
  readonly body: Buffer;
  readonly properties: MessageProperties;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly deliveryCount: number | undefined;
  readonly deadLetter: DeadLetterRecord | undefined;
  readonly queue: string;

  constructor(
    private readonly consumer: Consumer,
    readonly stored: Stored,
  ) {
    this.body = stored.body;
    this.properties = structuredClone(stored.properties);
    this.deliveryCount = isQuorum(consumer.queue) ? (stored.returns ?? 0) : undefined;
    this.deadLetter = stored.death;
    this.exchange = stored.exchange;
    this.routingKey = stored.routingKey;
    this.redelivered = stored.redelivered;
    this.queue = consumer.queue.declaration.name;
  }

  ack(): boolean {
    if (!this.consumer.unsettled.delete(this)) return false;
    this.consumer.queue.wake();
    return true;
  }

  reject(requeue: boolean): boolean {
    if (!this.consumer.unsettled.delete(this)) return false;
    if (requeue) returnToQueue(this.consumer.queue, this.stored);
    else deadLetter(this.consumer.queue, this.stored, 'rejected');
    this.consumer.queue.wake();
    return true;
  }
}

/** Hands `stored` to `consumer`, unsettled. */
export function hold(consumer: Consumer, stored: Stored): MemoryDelivery {
  const delivery = new MemoryDelivery(consumer, stored);
  consumer.unsettled.add(delivery);
  return delivery;
}

/** Schedules handing out the queue's ready messages (once per turn, however often called). */
export function scheduleDispatch(queue: Queue): void {
  if (queue.dispatchScheduled) return;
  queue.dispatchScheduled = true;
  setImmediate(() => {
    queue.dispatchScheduled = false;
    while (queue.ready.length > 0) {
      const consumer = nextWithRoom(queue);
      if (!consumer) return;
      const delivery = hold(consumer, queue.ready.shift()!);
      try {
        consumer.handler(delivery);
      } catch {
        // The handler owns its errors; the delivery stays unsettled like on a real broker.
      }
    }
  });
}

/** Round-robin over the queue's consumers that have room under their prefetch. */
function nextWithRoom(queue: Queue): Consumer | undefined {
  for (let i = 0; i < queue.consumers.length; i++) {
    const consumer = queue.consumers[(queue.nextConsumer + i) % queue.consumers.length];
    if (consumer.unsettled.size < consumer.prefetch) {
      queue.nextConsumer = (queue.nextConsumer + i + 1) % queue.consumers.length;
      return consumer;
    }
  }
  return undefined;
}

export function detach(consumer: Consumer): void {
  const list = consumer.queue.consumers;
  const index = list.indexOf(consumer);
  if (index >= 0) list.splice(index, 1);
}
