/**
 * The floors of celeriac's Redis round trip (celeriac-defaults, celeriac-c4, celeriac-roundtrip):
 * what a careful engineer would hand-write with amqplib and ioredis for the same job, measured in
 * the same run. Producer and worker are separate processes, as in production.
 *
 * - floor-redis-bare: task out (persistent, durable queue, pipelined confirms) → the worker
 *   (the tuned celeriac row's prefetch) stores a Celery-format result with SETEX + PUBLISH, then
 *   acks → the producer hears it on one pattern subscription. The message is its body alone.
 * - floor-redis-celery: the same with exactly the AMQP properties, headers and body celeriac
 *   sends for the task (floor-messages.ts checks them against celeriac's builder).
 *
 * Throughput = first publish → last result, in the producer; latency = publish → result.
 */
import { withChildren } from './child.js';
import type { RawRedisConsumerConfig } from './raw-redis-consumer.js';
import type { RawRedisProducerConfig } from './raw-redis-producer.js';
import { withQueues } from './raw-floor.js';
import { prefetchOf, redisUrlOf, result, runTogether, uniqueQueue, WARMUP_TASKS, type BenchOptions, type Scenario } from './scenario.js';

async function runRedisFloor(name: string, message: 'bare' | 'celery', options: BenchOptions) {
  const queue = uniqueQueue(name);
  const base = { amqpUrl: options.amqpUrl, redisUrl: redisUrlOf(options), message, queue, n: options.n, warmup: WARMUP_TASKS };
  return withQueues(options, [{ name: queue, durable: true }], () =>
    withChildren(options.onProgress, async (spawn) => {
      const worker = spawn(
        'raw-redis-consumer.js',
        { ...base, prefetch: prefetchOf(options) } satisfies RawRedisConsumerConfig,
        `${name} worker`,
      );
      const producer = spawn('raw-redis-producer.js', base satisfies RawRedisProducerConfig, `${name} producer`);
      const [w, p] = await runTogether([worker, producer], options.timeoutMs);
      return result(name, {
        tasks: options.n,
        seconds: (p.report.finishedAt - p.report.startedAt) / 1000,
        latency: p.report.latency,
        producer: p.stats,
        ...p.serviceCpu,
        worker: w.stats,
        notes: [`worker prefetch ${prefetchOf(options)}`],
      });
    }),
  );
}

export const redisFloorScenarios: Scenario[] = [
  {
    name: 'floor-redis-bare',
    description: 'amqplib + ioredis: task (body only) → SETEX + PUBLISH of a Celery result → ack; results on one pattern subscription',
    run: (options) => runRedisFloor('floor-redis-bare', 'bare', options),
  },
  {
    name: 'floor-redis-celery',
    description: "floor-redis-bare with exactly the properties, headers and body celeriac sends (built from celeriac's)",
    run: (options) => runRedisFloor('floor-redis-celery', 'celery', options),
  },
];
