/**
 * The peers, measured beside celeriac and the raw floor in the same run (`npm run bench --
 * --peers`): BullMQ (Node, on Redis) and Python Celery (prefork worker, Redis results), each
 * doing the round trips celeriac-roundtrip and celeriac-latency do, and read against the same
 * floors, so their 'vs floor' figures compare with celeriac's directly.
 *
 * - peer-bullmq-roundtrip: N × `queue.add()` fired at once, each result taken from the queue's
 *   events (bullmq-producer.ts, its events stream sized to hold the whole run); one Worker
 *   process, concurrency BULLMQ_CONCURRENCY; read against the Redis floors, as celeriac's
 *   Redis round trip is.
 * - peer-bullmq-latency: one `add()` and its result at a time, min(N, 2,000) times after the
 *   same one-at-a-time warm-up as celeriac's.
 * - peer-celery-roundtrip: min(N, 5,000) × `delay()`, then `get()` of each in order, from a
 *   Python producer; `celery worker -P prefork -c <concurrency>` with the bench's prefetch.
 *   Capped to keep the run short: Celery's round trips are 5–6 × slower than celeriac's.
 * - peer-celery-latency: one `delay(i).get()` at a time, min(N, 2,000) times, after the same
 *   number one at a time as warm-up.
 *
 * celery-node (0.5.9) is not measured: at tens of tasks a second it would take longer than the
 * rest of the run together.
 */
import { randomBytes } from 'node:crypto';
import { deleteQueues } from './broker-admin.js';
import { connectionOf } from './bullmq-peer.js';
import type { BullmqProducerConfig } from './bullmq-producer.js';
import type { BullmqWorkerConfig } from './bullmq-worker.js';
import type { CeleryPeerConfig } from './celery-peer.js';
import { withChildren } from './child.js';
import { LATENCY_TASKS, LATENCY_WARMUP } from './raw-floor.js';
import {
  redisUrlOf,
  result,
  runTogether,
  uniqueQueue,
  WARMUP_TASKS,
  type BenchOptions,
  type ChildRun,
  type Scenario,
  type ScenarioResult,
} from './scenario.js';

/** peer-celery-roundtrip: min(--n, this) tasks. */
const CELERY_TASKS = 5_000;

/**
 * The BullMQ Worker's concurrency: what a BullMQ user sets for I/O-bound jobs on one process
 * (its default of 1 would run one job at a time), not the bench's --concurrency.
 */
export const BULLMQ_CONCURRENCY = 50;

/** A peer's round-trip row: timed, and its latency taken, in the producer. */
function roundTripResult(scenario: string, n: number, worker: ChildRun, producer: ChildRun, note: string): ScenarioResult {
  return result(scenario, {
    tasks: n,
    seconds: (producer.report.finishedAt - producer.report.startedAt) / 1000,
    latency: producer.report.latency,
    producer: producer.stats,
    ...producer.serviceCpu,
    worker: worker.stats,
    notes: [note],
  });
}

async function runBullmq(scenario: string, mode: 'roundtrip' | 'latency', options: BenchOptions): Promise<ScenarioResult> {
  const n = mode === 'latency' ? Math.min(options.n, LATENCY_TASKS) : options.n;
  const warmup = mode === 'latency' ? LATENCY_WARMUP : WARMUP_TASKS;
  const base = { redisUrl: redisUrlOf(options), queue: `bench-${scenario}-${randomBytes(4).toString('hex')}`, n, warmup };
  try {
    return await withChildren(options.onProgress, async (spawn) => {
      const worker = spawn(
        'bullmq-worker.js',
        { ...base, concurrency: BULLMQ_CONCURRENCY, expected: warmup + n } satisfies BullmqWorkerConfig,
        `${scenario} worker`,
      );
      const producer = spawn(
        'bullmq-producer.js',
        { ...base, mode, resultTimeoutMs: options.timeoutMs } satisfies BullmqProducerConfig,
        `${scenario} producer`,
      );
      const [w, p] = await runTogether([worker, producer], options.timeoutMs);
      const note = `one Worker, concurrency ${BULLMQ_CONCURRENCY}; BullMQ keeps its jobs in Redis: its broker cost is in the redis column`;
      return roundTripResult(scenario, n, w, p, note);
    });
  } finally {
    // The producer obliterates its queue; this catches a run that failed before it could (and
    // gives up after a while: its connection retries forever, as BullMQ wants).
    const { Queue } = await import('bullmq');
    const queue = new Queue(base.queue, { connection: connectionOf(base.redisUrl) });
    const timer = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([queue.obliterate({ force: true }).catch(() => undefined), timer]);
    await Promise.race([queue.close().catch(() => undefined), timer]);
  }
}

async function runCelery(scenario: string, mode: 'roundtrip' | 'latency', options: BenchOptions): Promise<ScenarioResult> {
  const n = Math.min(options.n, mode === 'latency' ? LATENCY_TASKS : CELERY_TASKS);
  const queue = uniqueQueue(scenario);
  const base: Omit<CeleryPeerConfig, 'role'> = {
    amqpUrl: options.amqpUrl,
    backendUrl: redisUrlOf(options),
    queue,
    prefetchMultiplier: options.prefetchMultiplier,
    concurrency: options.concurrency,
    n,
    warmup: mode === 'latency' ? LATENCY_WARMUP : WARMUP_TASKS,
    mode,
    resultTimeoutMs: options.timeoutMs,
  };
  try {
    return await withChildren(options.onProgress, async (spawn) => {
      const worker = spawn('celery-peer.js', { ...base, role: 'worker' } satisfies CeleryPeerConfig, `${scenario} worker`);
      const producer = spawn('celery-peer.js', { ...base, role: 'producer' } satisfies CeleryPeerConfig, `${scenario} producer`);
      const [w, p] = await runTogether([worker, producer], options.timeoutMs);
      const note =
        `Python Celery, prefork pool of ${options.concurrency}; ` +
        "cpu and rss are the Python processes' (the worker's pool included, RSS summed)";
      return roundTripResult(scenario, n, w, p, note);
    });
  } finally {
    await deleteQueues(options.amqpUrl, [queue]);
  }
}

export const peerScenarios: Scenario[] = [
  {
    name: 'peer-bullmq-roundtrip',
    description: `BullMQ: add() × N, each result from the queue's events; one Worker process, concurrency ${BULLMQ_CONCURRENCY}`,
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    peer: true,
    run: (options) => runBullmq('peer-bullmq-roundtrip', 'roundtrip', options),
  },
  {
    name: 'peer-bullmq-latency',
    description: `BullMQ: add() then its result, one at a time, min(N, ${LATENCY_TASKS.toLocaleString('en-US')}) times`,
    floor: 'floor-latency',
    peer: true,
    run: (options) => runBullmq('peer-bullmq-latency', 'latency', options),
  },
  {
    name: 'peer-celery-roundtrip',
    description: `Python Celery: delay() × min(N, ${CELERY_TASKS.toLocaleString('en-US')}) then get() each; prefork worker, Redis results`,
    floor: 'floor-roundtrip',
    peer: true,
    run: (options) => runCelery('peer-celery-roundtrip', 'roundtrip', options),
  },
  {
    name: 'peer-celery-latency',
    description: `Python Celery: delay().get(), one at a time, min(N, ${LATENCY_TASKS.toLocaleString('en-US')}) times`,
    floor: 'floor-latency',
    peer: true,
    run: (options) => runCelery('peer-celery-latency', 'latency', options),
  },
];
