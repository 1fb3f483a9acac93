/**
 * Worker of the Redis floors (forked by raw-redis-floor.ts): raw amqplib and ioredis, on the
 * floor consumer skeleton (floor-consumer.ts).
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
import { Redis } from 'ioredis';
import { startChild } from './child-runtime.js';
import { runFloorConsumer, type FloorConsumerSettings } from './floor-consumer.js';
import { checkResultJson, RESULT_KEY_PREFIX, RESULT_TTL_SECONDS, resultJson } from './floor-messages.js';

export interface RawRedisConsumerConfig extends Omit<FloorConsumerSettings, 'subscribeOnGo'> {
  redisUrl: string;
  message: 'bare' | 'celery';
}

const child = startChild<RawRedisConsumerConfig>();

child.run(async () => {
  const { redisUrl, message: kind } = child.config;
  checkResultJson();
  await runFloorConsumer(child, { ...child.config, subscribeOnGo: false }, async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, enableAutoPipelining: true });
    await redis.connect();
    return {
      handle(message, args, settle, abort) {
        const failed = (error: Error): void => abort(new Error(`storing a result failed: ${error.message}`));
        const id = (kind === 'celery' ? (message.properties.headers?.id as string) : message.properties.correlationId) as string;
        const key = RESULT_KEY_PREFIX + id;
        const value = resultJson(id, args[0]);
        redis.setex(key, RESULT_TTL_SECONDS, value).catch(failed);
        // Answered after the SETEX (one connection, replies in order): both are done then.
        redis.publish(key, value).then(settle, failed);
      },
      close: () => redis.disconnect(),
    };
  });
});
