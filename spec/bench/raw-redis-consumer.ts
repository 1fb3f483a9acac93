/**
 * Worker of the Redis floors (forked by raw-redis-floor.ts): raw amqplib and ioredis.
 *
 * Consumes with the prefetch it is given (the tuned celeriac row's), decodes each body once,
 * stores the task's SUCCESS as celeriac's Redis backend does — SETEX of the Celery-format JSON
 * under `celery-task-meta-<id>` and PUBLISH of it on the channel of that name — and acks the
 * message once Redis answered both: the outcome is recorded before the ack, the invariant
 * celeriac keeps. The Redis connection auto-pipelines, so the commands of one event-loop turn
 * go out in one write; up to `prefetch` tasks are in flight at once.
 *
 * 'bare' messages carry the task id as correlation_id; 'celery' ones in their `id` header.
 */
import { connect, type ConsumeMessage } from 'amqplib';
import { Redis } from 'ioredis';
import { startChild } from './child-runtime.js';
import { checkResultJson, RESULT_KEY_PREFIX, RESULT_TTL_SECONDS, resultJson } from './floor-messages.js';
import { now } from './ipc.js';

export interface RawRedisConsumerConfig {
  amqpUrl: string;
  redisUrl: string;
  message: 'bare' | 'celery';
  queue: string;
  n: number;
  prefetch: number;
  /** Warm-up messages the producer sends before the measured N; processed, not counted. */
  warmup: number;
}

const child = startChild<RawRedisConsumerConfig>();

child.run(async () => {
  const { amqpUrl, redisUrl, message: kind, queue, n, prefetch, warmup } = child.config;
  checkResultJson();
  const expected = warmup + n;
  const connection = await connect(amqpUrl, { noDelay: true });
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  const redis = new Redis(redisUrl, { lazyConnect: true, enableAutoPipelining: true });
  await redis.connect();

  let processed = 0;
  let finish: () => void = () => undefined;
  let abort: (error: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  const failed = (error: Error): void => abort(new Error(`storing a result failed: ${error.message}`));

  const onMessage = (message: ConsumeMessage | null): void => {
    if (!message) return abort(new Error('consumer cancelled by the broker'));
    const [args] = JSON.parse(message.content.toString('utf8')) as [unknown[], unknown, unknown];
    const id = (kind === 'celery' ? (message.properties.headers?.id as string) : message.properties.correlationId) as string;
    const key = RESULT_KEY_PREFIX + id;
    const value = resultJson(id, args[0]);
    redis.setex(key, RESULT_TTL_SECONDS, value).catch(failed);
    // Answered after the SETEX (one connection, replies in order): both are done then.
    redis.publish(key, value).then(() => {
      channel.ack(message);
      if (++processed === expected) finish();
    }, failed);
  };
  await channel.consume(queue, onMessage, { noAck: false });

  await child.ready();
  const startedAt = now();
  const progress = setInterval(() => child.progress(`processed ${Math.max(0, processed - warmup)}/${n}`), 1000);
  await finished;
  // A synchronous round trip on the consuming channel: answered after all earlier acks.
  await channel.checkQueue(queue);
  const finishedAt = now();
  clearInterval(progress);
  child.finished({ startedAt, finishedAt, count: n });

  await child.stopped();
  await connection.close();
  redis.disconnect();
  child.exit();
});
