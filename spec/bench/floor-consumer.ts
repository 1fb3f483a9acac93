/**
 * The consumer skeleton of the floors (raw-consumer.ts, raw-redis-consumer.ts): raw amqplib, no
 * framework. A variant says only what it does with one task; the skeleton does the rest, the
 * same for every floor:
 *
 * - one connection and channel with the prefetch it is given, opened before the variant's own
 *   connections (`open`);
 * - each delivery's body decoded once, then handed to the variant, which calls `settle()` once
 *   the task's outcome is recorded (or straight away, when there is none): `settle` acks the
 *   message and counts it;
 * - subscribed before 'ready' (the producer runs concurrently and publishes only after 'go'),
 *   or on 'go' (a preloaded queue);
 * - started at 'go'; finished after the warm-up + N-th ack and one synchronous call on the same
 *   channel: the broker answers it only after processing every earlier frame, so the finish time
 *   includes the acks reaching the broker;
 * - after 'stop', the consuming connection closed, then the variant's (`close`).
 */
import { connect, type Channel, type ConsumeMessage } from 'amqplib';
import type { Child } from './child-runtime.js';
import { now } from './ipc.js';

export interface FloorConsumerSettings {
  amqpUrl: string;
  queue: string;
  n: number;
  prefetch: number;
  /** Warm-up messages the producer sends before the measured N; processed, not counted. */
  warmup: number;
  /** false: subscribe before reporting ready. true: subscribe on 'go' (the queue was preloaded). */
  subscribeOnGo: boolean;
}

/** What a floor consumer variant does with its tasks. */
export interface FloorConsumerVariant {
  /**
   * One task: its message and the decoded positional arguments. Calls `settle()` exactly once,
   * when the outcome is recorded; `abort` fails the run.
   */
  handle(message: ConsumeMessage, args: unknown[], settle: () => void, abort: (error: Error) => void): void;
  /** After 'stop' and the consuming connection closed: closes what `open` opened. */
  close(): Promise<void> | void;
}

/**
 * Runs the floor consumer in `child`: `open` makes the variant once the consuming channel is set
 * up, and may open connections of its own.
 */
export async function runFloorConsumer(
  child: Child<unknown>,
  settings: FloorConsumerSettings,
  open: () => Promise<FloorConsumerVariant>,
): Promise<void> {
  const { amqpUrl, queue, n, prefetch, warmup, subscribeOnGo } = settings;
  const expected = warmup + n;

  const connection = await connect(amqpUrl, { noDelay: true });
  const channel: Channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  const variant = await open();

  let processed = 0;
  let finish: () => void = () => undefined;
  let abort: (error: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });

  const onMessage = (message: ConsumeMessage | null): void => {
    if (!message) return abort(new Error('consumer cancelled by the broker'));
    const [args] = JSON.parse(message.content.toString('utf8')) as [unknown[], unknown, unknown];
    variant.handle(
      message,
      args,
      () => {
        channel.ack(message);
        if (++processed === expected) finish();
      },
      abort,
    );
  };
  const subscribe = async (): Promise<void> => {
    await channel.consume(queue, onMessage, { noAck: false });
  };

  if (!subscribeOnGo) await subscribe();
  await child.ready();
  const startedAt = now();
  if (subscribeOnGo) await subscribe();
  const progress = setInterval(() => child.progress(`processed ${Math.max(0, processed - warmup)}/${n}`), 1000);

  await finished;
  // A synchronous round trip on the consuming channel: answered after all earlier acks.
  await channel.checkQueue(queue);
  const finishedAt = now();
  clearInterval(progress);
  child.finished({ startedAt, finishedAt, count: n });

  await child.stopped();
  await connection.close();
  await variant.close();
  child.exit();
}
