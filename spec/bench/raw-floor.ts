/**
 * The floor: what raw amqplib does on this machine in this run. celeriac's figures are read as
 * a ratio to these. Producer and consumer are separate processes, as in production.
 *
 * - floor-roundtrip: task out (persistent, durable queue, pipelined confirms) → consumer
 *   replies (rpc-backend-style result via reply_to, confirmed before the task is acked) →
 *   producer consumes the reply. Same message count as a celeriac task + result with the rpc
 *   backend. Latency = per task, publish call → reply received, in the producer.
 * - floor-oneway: the same publishing, consumer only acks; finished when the last ack reached
 *   the broker. The floor for fire-and-forget (ignore_result) tasks.
 * - floor-latency: as floor-roundtrip, one task at a time (publish, confirm, reply, next),
 *   min(N, 2,000) times: the round trip at low load, as p50/p99.
 * - floor-publish: confirmed persistent publishes per second, nobody consuming.
 * - floor-consume: a preloaded queue drained with per-message acks (the preload is not timed).
 *
 * Every scenario sends all N messages as fast as backpressure allows, so latencies are those
 * of a saturating burst (mostly queueing); compare them only between scenarios of one run.
 */
import { withChildren, type BenchChild, type SpawnChild } from './child.js';
import { declareQueues, deleteQueues } from './broker-admin.js';
import type { RawConsumerConfig } from './raw-consumer.js';
import type { RawProducerConfig } from './raw-producer.js';
import { prefetchOf, rate, result, runTogether, uniqueQueue, WARMUP_TASKS, type BenchOptions, type Scenario } from './scenario.js';

/** The floor consumer (raw-consumer.ts) on `queue`: the run's prefetch, N and warm-up unless given. */
function spawnConsumer(
  spawn: SpawnChild,
  options: BenchOptions,
  label: string,
  config: Pick<RawConsumerConfig, 'mode' | 'queue' | 'subscribeOnGo'> & Partial<Pick<RawConsumerConfig, 'n' | 'warmup'>>,
): BenchChild {
  const full = { amqpUrl: options.amqpUrl, n: options.n, warmup: WARMUP_TASKS, prefetch: prefetchOf(options), ...config };
  return spawn('raw-consumer.js', full satisfies RawConsumerConfig, label);
}

/** The floor producer (raw-producer.ts) to `queue`: the run's N and warm-up unless given. */
function spawnProducer(
  spawn: SpawnChild,
  options: BenchOptions,
  label: string,
  config: Pick<RawProducerConfig, 'mode' | 'queue' | 'replyQueue'> & Partial<Pick<RawProducerConfig, 'n' | 'warmup'>>,
): BenchChild {
  const full = { amqpUrl: options.amqpUrl, n: options.n, warmup: WARMUP_TASKS, ...config };
  return spawn('raw-producer.js', full satisfies RawProducerConfig, label);
}

/** Runs `body` with the queues declared, and deletes them afterwards whatever happened. */
export async function withQueues<T>(
  options: BenchOptions,
  queues: Array<{ name: string; durable: boolean }>,
  body: () => Promise<T>,
): Promise<T> {
  try {
    await declareQueues(options.amqpUrl, queues);
    return await body();
  } finally {
    await deleteQueues(
      options.amqpUrl,
      queues.map((q) => q.name),
    );
  }
}

/** Round trips measured one at a time (latency scenarios): min(--n, this). */
export const LATENCY_TASKS = 2_000;
/**
 * Round trips run one at a time before latency scenarios measure, instead of WARMUP_TASKS sent
 * at once: V8 optimizes a function once it has run often enough, and the one-at-a-time path
 * (a SentTask's get(), a single subscription) is not the bulk one. Measured on celeriac, the
 * p50 of blocks of 1,000 round trips fell from 1.36 to 1.0 ms over the first 3,000 and then held.
 */
export const LATENCY_WARMUP = 2_000;

function replyScenario(name: 'floor-roundtrip' | 'floor-latency', options: BenchOptions) {
  const queue = uniqueQueue(name);
  const n = name === 'floor-latency' ? Math.min(options.n, LATENCY_TASKS) : options.n;
  const warmup = name === 'floor-latency' ? LATENCY_WARMUP : WARMUP_TASKS;
  // Results are transient on a non-durable queue, as with Celery's rpc backend.
  const replyQueue = `${queue}.replies`;
  return withQueues(
    options,
    [
      { name: queue, durable: true },
      { name: replyQueue, durable: false },
    ],
    () =>
      withChildren(options.onProgress, async (spawn) => {
        const consumer = spawnConsumer(spawn, options, `${name} consumer`, { mode: 'reply', queue, n, warmup, subscribeOnGo: false });
        const mode = name === 'floor-latency' ? 'latency' : 'roundtrip';
        const producer = spawnProducer(spawn, options, `${name} producer`, { mode, queue, replyQueue, n, warmup });
        const [c, p] = await runTogether([consumer, producer], options.timeoutMs);
        const publishMs = Number(p.report.extra?.publishSeconds) * 1000;
        return result(name, {
          tasks: n,
          seconds: (p.report.finishedAt - p.report.startedAt) / 1000,
          latency: p.report.latency,
          producer: p.stats,
          ...p.serviceCpu,
          worker: c.stats,
          notes: name === 'floor-roundtrip' ? [`publishing alone took ${Math.round(publishMs)} ms (${rate(n, publishMs)})`] : [],
        });
      }),
  );
}

const roundtrip: Scenario = {
  name: 'floor-roundtrip',
  description: 'raw amqplib: task + reply per message, confirms pipelined, ack after reply confirm',
  run: (options) => replyScenario('floor-roundtrip', options),
};

const latency: Scenario = {
  name: 'floor-latency',
  description: `raw amqplib: one task + reply at a time, min(N, ${LATENCY_TASKS.toLocaleString('en-US')}) times`,
  run: (options) => replyScenario('floor-latency', options),
};

const oneway: Scenario = {
  name: 'floor-oneway',
  description: 'raw amqplib: publish (pipelined confirms) while a consumer acks; no results',
  run: async (options) => {
    const queue = uniqueQueue('floor-oneway');
    return withQueues(options, [{ name: queue, durable: true }], () =>
      withChildren(options.onProgress, async (spawn) => {
        const consumer = spawnConsumer(spawn, options, 'floor-oneway consumer', { mode: 'ack', queue, subscribeOnGo: false });
        const producer = spawnProducer(spawn, options, 'floor-oneway producer', { mode: 'publish', queue });
        const [c, p] = await runTogether([consumer, producer], options.timeoutMs);
        const publishMs = Number(p.report.extra?.publishSeconds) * 1000;
        // First publish → last ack at the broker; instants from two processes, one clock.
        return result('floor-oneway', {
          tasks: options.n,
          seconds: (c.report.finishedAt - p.report.startedAt) / 1000,
          producer: p.stats,
          ...p.serviceCpu,
          worker: c.stats,
          notes: [`publishing alone took ${Math.round(publishMs)} ms (${rate(options.n, publishMs)})`],
        });
      }),
    );
  },
};

const publishOnly: Scenario = {
  name: 'floor-publish',
  description: 'raw amqplib: confirmed persistent publishes to a durable queue, no consumer',
  run: async (options) => {
    const queue = uniqueQueue('floor-publish');
    return withQueues(options, [{ name: queue, durable: true }], () =>
      withChildren(options.onProgress, async (spawn) => {
        const producer = spawnProducer(spawn, options, 'floor-publish producer', { mode: 'publish', queue });
        const [p] = await runTogether([producer], options.timeoutMs);
        return result('floor-publish', {
          tasks: options.n,
          seconds: (p.report.finishedAt - p.report.startedAt) / 1000,
          producer: p.stats,
          ...p.serviceCpu,
        });
      }),
    );
  },
};

const consumeOnly: Scenario = {
  name: 'floor-consume',
  description: 'raw amqplib: drain a preloaded durable queue, ack per message',
  run: async (options) => {
    const queue = uniqueQueue('floor-consume');
    return withQueues(options, [{ name: queue, durable: true }], () =>
      withChildren(options.onProgress, async (spawn) => {
        const loader = spawnProducer(spawn, options, 'floor-consume preload', { mode: 'publish', queue });
        await runTogether([loader], options.timeoutMs);
        const consumer = spawnConsumer(spawn, options, 'floor-consume consumer', { mode: 'ack', queue, subscribeOnGo: true });
        const [c] = await runTogether([consumer], options.timeoutMs);
        return result('floor-consume', {
          tasks: options.n,
          seconds: (c.report.finishedAt - c.report.startedAt) / 1000,
          worker: c.stats,
          ...c.serviceCpu,
        });
      }),
    );
  },
};

export const floorScenarios: Scenario[] = [roundtrip, oneway, publishOnly, consumeOnly, latency];
