/**
 * Producer of the Redis floors (forked by raw-redis-floor.ts): raw amqplib and ioredis, what a
 * careful engineer would write for celeriac-roundtrip's job.
 *
 * One pattern subscription (PSUBSCRIBE `celery-task-meta-<run prefix>-*`, floor-messages.ts)
 * hears every result of the run: no per-task SUBSCRIBE. Then N task messages (persistent,
 * mandatory, to a durable queue) with pipelined confirms; each result is parsed and checked as
 * celeriac's get() does; finished at the N-th result. Latency per task = publish call → its
 * result received, both taken here. Before 'go', `warmup` tasks go the same way.
 *
 * One connection to RabbitMQ (it only publishes) and one to Redis (the subscription).
 */
import { connect } from 'amqplib';
import { Redis } from 'ioredis';
import { createBenchApp } from './celeriac-app.js';
import { startChild } from './child-runtime.js';
import { bareMessage, celeryMessages, RESULT_KEY_PREFIX, runTaskIds } from './floor-messages.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';
import { publishPipelined, type FloorMessage } from './pipelined-publish.js';

export interface RawRedisProducerConfig {
  amqpUrl: string;
  redisUrl: string;
  /** 'bare': body and task id only; 'celery': the headers and properties celeriac sends. */
  message: 'bare' | 'celery';
  queue: string;
  n: number;
  warmup: number;
}

const child = startChild<RawRedisProducerConfig>();

child.run(async () => {
  const { amqpUrl, redisUrl, queue, n, warmup } = child.config;
  const ids = runTaskIds();
  let make: (i: number, id: string) => FloorMessage = bareMessage;
  if (child.config.message === 'celery') {
    // Only its message builder is used: nothing connects.
    const { app } = createBenchApp({ amqpUrl, backendUrl: redisUrl, queue });
    make = celeryMessages(app);
    await app.close();
  }

  const connection = await connect(amqpUrl, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  const subscriber = new Redis(redisUrl, { lazyConnect: true });
  await subscriber.connect();

  /** Every task id sent, for removing the run's results afterwards. */
  const sentIds: string[] = [];
  /** Per task id awaiting its result: its index in the batch running now. */
  const awaiting = new Map<string, number>();
  let onResult: (i: number, at: number) => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    failed = reject;
  });
  failure.catch(() => undefined); // observed by whichever batch is running
  /** The value each task was sent with, by index; its result must be the same. */
  let sentValue: (i: number) => number = (i) => i;

  subscriber.on('pmessage', (_pattern: string, channelName: string, raw: string) => {
    const at = now();
    const id = channelName.slice(RESULT_KEY_PREFIX.length);
    const i = awaiting.get(id);
    if (i === undefined) return failed(new Error(`result for unknown task ${id}`));
    awaiting.delete(id);
    const meta = JSON.parse(raw) as { status: string; result: unknown };
    if (meta.status !== 'SUCCESS' || meta.result !== sentValue(i)) return failed(new Error(`task ${id} ended ${raw}`));
    onResult(i, at);
  });
  await subscriber.psubscribe(ids.pattern);

  /** Sends `count` tasks of values `value(i)`; resolves when every result came in. */
  const batch = (
    count: number,
    value: (i: number) => number,
    onPublished: (i: number) => void,
    onReplied: (i: number, at: number) => void,
  ) => {
    let results = 0;
    sentValue = value;
    const allResults = new Promise<void>((resolve) => {
      onResult = (i, at) => {
        onReplied(i, at);
        if (++results === count) resolve();
      };
    });
    const publishing = publishPipelined(
      channel,
      queue,
      count,
      (i) => make(value(i), ids.next()),
      (i, id) => {
        onPublished(i);
        sentIds.push(id);
        awaiting.set(id, i);
      },
    );
    return {
      status: () => `published ${publishing.published()}/${count}, confirmed ${publishing.confirmed()}, results ${results}`,
      done: Promise.race([Promise.all([publishing.done, allResults]), failure]),
    };
  };

  await batch(
    warmup,
    (i) => -1 - i,
    () => undefined,
    () => undefined,
  ).done;

  const sentAt = new Float64Array(n);
  const latency = new Float64Array(n);
  await child.ready();
  const startedAt = now();
  const measured = batch(
    n,
    (i) => i,
    (i) => {
      sentAt[i] = now();
    },
    (i, at) => {
      latency[i] = at - sentAt[i];
    },
  );
  const progress = setInterval(() => child.progress(measured.status()), 1000);
  await measured.done;
  const finishedAt = now();
  clearInterval(progress);
  child.finished({ startedAt, finishedAt, count: n, latency: summarizeLatency(latency) });

  await child.stopped();
  await connection.close();
  subscriber.disconnect();
  // Not timed: the run's results go, so repeated runs do not pile up keys.
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  for (let i = 0; i < sentIds.length; i += 1000) await redis.unlink(...sentIds.slice(i, i + 1000).map((id) => RESULT_KEY_PREFIX + id));
  redis.disconnect();
  child.exit();
});
