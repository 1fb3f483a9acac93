/**
 * Floor consumer (forked by raw-floor.ts): raw amqplib, no framework.
 *
 * Consumes with a bounded prefetch (the same number celeriac's worker uses in the run) and
 * acks every message individually, after decoding its body once.
 *
 * mode 'reply': publishes an rpc-backend-shaped result to the message's reply_to on a
 *   confirm channel of a second connection, and acks the task only when that result is
 *   confirmed: the outcome is recorded before the ack, the invariant celeriac keeps. Confirms
 *   are pipelined, so up to `prefetch` tasks are in flight at once.
 * mode 'ack': acks straight away (fire-and-forget and consume-only floors). After the N-th
 *   ack it makes one synchronous call on the same channel: the broker answers it only after
 *   processing every earlier frame, so the finish time includes the acks reaching the broker.
 */
import { connect, type ConsumeMessage } from 'amqplib';
import { startChild } from './child-runtime.js';
import { now } from './ipc.js';
import { resultMessage } from './raw-message.js';

export interface RawConsumerConfig {
  url: string;
  mode: 'reply' | 'ack';
  queue: string;
  n: number;
  prefetch: number;
  /** Warm-up messages the producer sends before the measured N; processed, not counted. */
  warmup: number;
  /**
   * false: subscribe before reporting ready (the producer runs concurrently and publishes only
   * after 'go'). true: subscribe on 'go' (the queue was preloaded; consume-only floor).
   */
  subscribeOnGo: boolean;
}

const child = startChild<RawConsumerConfig>();

child.run(async () => {
  const { url, mode, queue, n, prefetch, subscribeOnGo, warmup } = child.config;
  const expected = warmup + n;

  const consumeConnection = await connect(url, { noDelay: true });
  const channel = await consumeConnection.createChannel();
  await channel.prefetch(prefetch);
  const publishConnection = mode === 'reply' ? await connect(url, { noDelay: true }) : undefined;
  const replyChannel = await publishConnection?.createConfirmChannel();

  let startedAt = 0;
  let processed = 0;
  let finish: () => void = () => undefined;
  let abort: (error: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });

  const settled = (): void => {
    if (++processed === expected) finish();
  };

  const onMessage = (message: ConsumeMessage | null): void => {
    if (!message) return abort(new Error('consumer cancelled by the broker'));
    const [args] = JSON.parse(message.content.toString('utf8')) as [unknown[], unknown, unknown];
    if (!replyChannel) {
      channel.ack(message);
      return settled();
    }
    const taskId = message.properties.correlationId as string;
    const result = resultMessage(taskId, args[0]);
    // No drain wait needed: prefetch bounds how many replies can be unconfirmed.
    replyChannel.sendToQueue(message.properties.replyTo as string, result.body, result.options, (error: unknown) => {
      if (error) return abort(new Error('result publish nacked by the broker'));
      channel.ack(message);
      settled();
    });
  };

  const subscribe = async (): Promise<void> => {
    await channel.consume(queue, onMessage, { noAck: false });
  };

  if (!subscribeOnGo) await subscribe();
  await child.ready();
  startedAt = now();
  if (subscribeOnGo) await subscribe();
  const progress = setInterval(() => child.progress(`processed ${Math.max(0, processed - warmup)}/${n}`), 1000);

  await finished;
  // A synchronous round trip on the consuming channel: answered after all earlier acks.
  await channel.checkQueue(queue);
  const finishedAt = now();
  clearInterval(progress);
  child.finished({ startedAt, finishedAt, count: n });

  await child.stopped();
  await consumeConnection.close();
  await publishConnection?.close();
  child.exit();
});
