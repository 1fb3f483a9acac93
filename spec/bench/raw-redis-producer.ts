/**
 * Producer of the Redis floors (forked by raw-redis-floor.ts): raw amqplib and ioredis, what a
 * careful engineer would write for celeriac-roundtrip's job, on the floor producer skeleton
 * (floor-producer.ts: batches, warm-up, timing).
 *
 * One pattern subscription (PSUBSCRIBE `celery-task-meta-<run prefix>-*`, floor-messages.ts)
 * hears every result of the run: no per-task SUBSCRIBE. Then N task messages (persistent,
 * mandatory, to a durable queue) with pipelined confirms; each result is parsed and checked as
 * celeriac's get() does; finished at the N-th result. Latency per task = publish call → its
 * result received, both taken here. Before 'go', `warmup` tasks go the same way, with values
 * -1, -2, … (told apart from the measured ones').
 *
 * One connection to RabbitMQ (it only publishes) and one to Redis (the subscription).
 */
import { Redis } from 'ioredis';
import { createBenchApp } from './celeriac-app.js';
import { startChild } from './child-runtime.js';
import { bareMessage, celeryMessages, RESULT_KEY_PREFIX, runTaskIds } from './floor-messages.js';
import { runFloorProducer, type FloorProducerSettings } from './floor-producer.js';
import { now } from './ipc.js';
import type { FloorMessage } from './pipelined-publish.js';

export interface RawRedisProducerConfig extends Omit<FloorProducerSettings, 'oneAtATime' | 'answer'> {
  redisUrl: string;
  /** 'bare': body and task id only; 'celery': the headers and properties celeriac sends. */
  message: 'bare' | 'celery';
}

const child = startChild<RawRedisProducerConfig>();

child.run(async () => {
  const { amqpUrl, redisUrl, queue } = child.config;
  const ids = runTaskIds();
  let make: (i: number, id: string) => FloorMessage = bareMessage;
  if (child.config.message === 'celery') {
    // Only its message builder is used: nothing connects.
    const { app } = createBenchApp({ amqpUrl, backendUrl: redisUrl, queue });
    make = celeryMessages(app);
    await app.close();
  }

  /** Every task id sent, for removing the run's results afterwards. */
  const sentIds: string[] = [];
  await runFloorProducer(child, { ...child.config, oneAtATime: false, answer: 'result' }, async (answers) => {
    const subscriber = new Redis(redisUrl, { lazyConnect: true });
    await subscriber.connect();
    subscriber.on('pmessage', (_pattern: string, channelName: string, raw: string) => {
      const at = now();
      const meta = JSON.parse(raw) as { status: string; result: unknown };
      answers.arrived(channelName.slice(RESULT_KEY_PREFIX.length), at, {
        ok: (value) => meta.status === 'SUCCESS' && meta.result === value,
        ended: raw,
      });
    });
    await subscriber.psubscribe(ids.pattern);
    return {
      message(value) {
        const id = ids.next();
        sentIds.push(id);
        return make(value, id);
      },
      warmupValue: (i) => -1 - i,
      async close() {
        subscriber.disconnect();
        // Not timed: the run's results go, so repeated runs do not pile up keys.
        const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await redis.connect();
        for (let i = 0; i < sentIds.length; i += 1000)
          await redis.unlink(...sentIds.slice(i, i + 1000).map((id) => RESULT_KEY_PREFIX + id));
        redis.disconnect();
      },
    };
  });
});
