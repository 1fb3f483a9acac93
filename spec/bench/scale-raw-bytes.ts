/**
 * The raw amqplib floor of scale-1mb-args (scale.ts): the same bytes through RabbitMQ with no
 * framework, with the same bound on what the broker holds. One script, two roles:
 *
 * role 'producer': publishes N Celery-shaped task messages (raw-message.ts's properties and
 *   headers) whose body is `[[payload], {}, embed]`, persistent, mandatory, on a confirm channel,
 *   with at most `window` published and not yet answered; a reply (the payload's length, on a
 *   second connection's reply queue) answers each. Finishes at the last reply.
 * role 'consumer': prefetch as the run's, decodes each body once, publishes the reply (confirmed)
 *   and acks the task once the reply is confirmed, as raw-consumer.ts's reply mode does.
 */
import { connect, type ConsumeMessage } from 'amqplib';
import { startChild } from './child-runtime.js';
import { now } from './ipc.js';
import { resultMessage, taskMessage } from './raw-message.js';

export interface ScaleRawBytesConfig {
  url: string;
  role: 'producer' | 'consumer';
  queue: string;
  replyQueue: string;
  n: number;
  payloadBytes: number;
  /** producer: messages published and not yet answered at most. */
  window: number;
  /** consumer: its prefetch. */
  prefetch: number;
}

/** Messages through the same path before 'go', not measured (as the celeriac side's warm-up). */
const RAW_BYTES_WARMUP = 10;

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

const child = startChild<ScaleRawBytesConfig>();

async function produce(config: ScaleRawBytesConfig): Promise<void> {
  const payload = 'x'.repeat(config.payloadBytes);
  const publishConnection = await connect(config.url, { noDelay: true });
  const channel = await publishConnection.createConfirmChannel();
  const replyConnection = await connect(config.url, { noDelay: true });
  const replyChannel = await replyConnection.createChannel();
  const waiting = new Map<string, () => void>();
  let failed: (error: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined);
  channel.on('return', (message: ConsumeMessage) => failed(new Error(`unroutable: ${message.fields.routingKey}`)));
  await replyChannel.consume(
    config.replyQueue,
    (message) => {
      if (!message) return failed(new Error('reply consumer cancelled by the broker'));
      const { result } = JSON.parse(message.content.toString('utf8')) as { result: unknown };
      if (result !== payload.length) return failed(new Error(`a reply said ${JSON.stringify(result)}, not ${payload.length}`));
      waiting.get(message.properties.correlationId as string)?.();
    },
    { noAck: true },
  );

  /** One task out and its reply in; the confirm is awaited too. */
  const roundTrip = async (i: number): Promise<void> => {
    const task = taskMessage(i, config.replyQueue);
    // The body built per message, as a framework builds it from the call.
    const body = Buffer.from(JSON.stringify([[payload], {}, EMBED]));
    const replied = new Promise<void>((resolve) => waiting.set(task.id, resolve));
    const confirmed = new Promise<void>((resolve, reject) => {
      // No wait for 'drain': the window bounds what amqplib buffers to `window` messages.
      channel.sendToQueue(config.queue, body, task.options, (error: unknown) =>
        error ? reject(new Error('publish nacked by the broker')) : resolve(),
      );
    });
    await Promise.race([Promise.all([confirmed, replied]), failure]);
    waiting.delete(task.id);
  };
  const run = async (count: number): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) await roundTrip(next++);
    };
    await Promise.all(Array.from({ length: Math.min(config.window, count) }, lane));
  };

  await run(RAW_BYTES_WARMUP);
  await child.ready();
  const startedAt = now();
  await run(config.n);
  child.finished({ startedAt, finishedAt: now(), count: config.n });
  await child.stopped();
  await publishConnection.close();
  await replyConnection.close();
}

async function consume(config: ScaleRawBytesConfig): Promise<void> {
  const consumeConnection = await connect(config.url, { noDelay: true });
  const channel = await consumeConnection.createChannel();
  await channel.prefetch(config.prefetch);
  const publishConnection = await connect(config.url, { noDelay: true });
  const replyChannel = await publishConnection.createConfirmChannel();
  await channel.consume(
    config.queue,
    (message) => {
      if (!message) return child.fail(new Error('consumer cancelled by the broker'));
      const [args] = JSON.parse(message.content.toString('utf8')) as [string[], unknown, unknown];
      const taskId = message.properties.correlationId as string;
      const reply = resultMessage(taskId, args[0].length);
      replyChannel.sendToQueue(message.properties.replyTo as string, reply.body, reply.options, (error: unknown) => {
        if (error) return child.fail(new Error('reply publish nacked by the broker'));
        channel.ack(message);
      });
    },
    { noAck: false },
  );
  await child.ready();
  // The producer's report ends the run; this side has nothing to count.
  child.finished({ startedAt: now(), finishedAt: now(), count: 0 });
  await child.stopped();
  await consumeConnection.close();
  await publishConnection.close();
}

child.run(async () => {
  await (child.config.role === 'producer' ? produce(child.config) : consume(child.config));
  child.exit();
});
