/**
 * celeriac itself, measured like the floor (raw-floor.ts) in the same run: a worker process
 * (concurrency and prefetch as the floor consumer's) and a producer process, a queue unique to
 * the run, broker and backend on this machine.
 *
 * - celeriac-roundtrip: N × delay(i) fired at once, then every get(), the worker tuned
 *   (--concurrency × --prefetch-multiplier, the floors' prefetch); compare with floor-redis-bare
 *   and floor-redis-celery (raw-redis-floor.ts). Throughput = first delay() → last result, in
 *   the producer.
 * - celeriac-defaults, celeriac-c4: the same with the worker as a user starts it: no
 *   concurrency or prefetch options (`celeriac worker -A app`), and `--concurrency=4` alone;
 *   compared with the same floors (whose prefetch is the tuned row's).
 * - celeriac-celery-defaults, celeriac-celery-c4 (opt-in): the same two with Celery's prefork
 *   defaults given (concurrency = the CPUs, and 4, each × 4): what the async pool's defaults
 *   were, to see what its own defaults (pool-defaults.ts) change.
 * - celeriac-rpc-roundtrip: the same with backend rpc:// (results as messages to the producer's
 *   reply queue, as the floor's replies).
 * - celeriac-fire-and-forget: N × applyAsync([i], {}, { ignoreResult: true }); compare with
 *   floor-oneway. Throughput = first applyAsync() → the worker's N-th ack. The notes give the
 *   worker's RSS at 'go' and when the 1st, 25 %, 50 %, 75 % and last task were done, so a long
 *   run (--n 1000000) shows whether it stays flat.
 * - celeriac-publish: the same N × applyAsync with no worker (the messages stay in the queue);
 *   compare with floor-publish. Throughput = first applyAsync() → last confirm.
 * - celeriac-consume: a worker drains a queue preloaded (by celeriac-publish's producer) with
 *   the warm-up and N tasks; compare with floor-consume. Timed in the worker, from its first
 *   delivery to its last task done (its ack queued); it connects before 'go', so its CPU figure
 *   counts its start (declarations, subscribing) but not its connection.
 * - celeriac-latency: min(N, 2,000) round trips one at a time (delay, get, next); compare
 *   p50/p99 with floor-latency.
 * - celeriac-countdown: N tasks with countdowns spread over --window (default 1 h), sent at
 *   once: they wait in the broker's delay tiers, not in the worker, so the worker's RSS stays
 *   flat; reports the due → start error (p50/p99 in the latency columns) and the worker's RSS
 *   as celeriac-fire-and-forget does.
 * - celeriac-chord-10k-redis / -rpc: a group of min(N, 10,000) no-op tasks to its last result
 *   (the header's own processing), then a chord of the same header with a summing body to the
 *   body's result. Chord overhead = chord wall − group wall.
 */
import { availableParallelism } from 'node:os';
import { CELERY_PREFETCH_MULTIPLIER } from '../../lib/worker/pool-defaults.js';
import { withChildren } from './child.js';
import { deleteQueues } from './broker-admin.js';
import { WARM_CHORD_SIZE, type CeleriacBenchConfig } from './celeriac-app.js';
import { LATENCY_TASKS, LATENCY_WARMUP } from './raw-floor.js';
import { LATENESS_BY_TENTH, WORKER_CONCURRENCY, WORKER_PREFETCH } from './measure.js';
import type { CeleriacProducerConfig } from './celeriac-producer.js';
import type { CeleriacWorkerConfig } from './celeriac-worker.js';
import {
  rate,
  redisUrlOf,
  result,
  runTogether,
  uniqueQueue,
  WARMUP_TASKS,
  type BenchOptions,
  type Scenario,
  type ScenarioResult,
} from './scenario.js';

/** Chord header size: min(--n, this). */
export const CHORD_TASKS = 10_000;

export interface Variant {
  /** The producer's mode, or 'consume': the producer preloads the queue ('publish'), then the worker drains it. */
  mode: CeleriacProducerConfig['mode'] | 'consume';
  /** Result backend; default the run's (--backend). */
  backendUrl?: string;
  /** Tasks; default --n. */
  n?: (options: BenchOptions) => number;
  /** The task queue's type; default classic. */
  queueType?: 'classic' | 'quorum';
  /** roundtrip: runs beside the producer and worker once they were told 'go' (a fault to inject). */
  afterGo?: () => Promise<void>;
  /** The app's resultBackendWaitForReplicas; default none. */
  waitForReplicas?: CeleriacBenchConfig['waitForReplicas'];
  /**
   * The worker's concurrency and prefetch multiplier, each left to celeriac's default when
   * absent; default the run's tuned ones (--concurrency, --prefetch-multiplier).
   */
  worker?: (options: BenchOptions) => Pick<CeleriacWorkerConfig, 'concurrency' | 'prefetchMultiplier'>;
}

/** The tuned worker: the run's --concurrency and --prefetch-multiplier. */
const tunedWorker = (options: BenchOptions) => ({ concurrency: options.concurrency, prefetchMultiplier: options.prefetchMultiplier });

/** Runs one celeriac scenario; `options.amqpUrl` may be a broker list (cluster.ts). */
export async function runCeleriac(scenario: string, variant: Variant, options: BenchOptions): Promise<ScenarioResult> {
  const { mode } = variant;
  const queue = uniqueQueue(scenario);
  const n = variant.n?.(options) ?? options.n;
  const warmup = mode === 'latency' ? LATENCY_WARMUP : WARMUP_TASKS;
  const base: CeleriacBenchConfig = {
    amqpUrl: options.amqpUrl,
    backendUrl: variant.backendUrl ?? options.backendUrl,
    queue,
    n,
    warmup,
    maxUnconfirmedPublishes: options.maxUnconfirmedPublishes,
    taskDeliveryMode: options.taskDeliveryMode,
    ...(variant.queueType ? { queueType: variant.queueType } : {}),
    ...(variant.waitForReplicas ? { waitForReplicas: variant.waitForReplicas } : {}),
  };
  // The worker runs the warm-up, then: a chord's group and chord (2N + 1), or N tasks.
  const expected = mode === 'chord' ? warmup + WARM_CHORD_SIZE + 1 + 2 * n + 1 : warmup + n;
  const producerConfig = {
    ...base,
    mode: mode === 'consume' ? 'publish' : mode,
    resultTimeoutMs: options.timeoutMs,
    windowMs: options.windowMs,
  } satisfies CeleriacProducerConfig;
  const workerConfig = {
    ...base,
    ...(variant.worker ?? tunedWorker)(options),
    expected,
    measureDueError: mode === 'countdown',
    rssCheckpoints: mode === 'countdown' || mode === 'fire-and-forget',
    startOnGo: mode === 'consume',
  } satisfies CeleriacWorkerConfig;
  try {
    return await withChildren(options.onProgress, async (spawn) => {
      if (mode === 'consume') {
        // Preloaded first (not timed), as in floor-consume; then the worker alone.
        await runTogether([spawn('celeriac-producer.js', producerConfig, `${scenario} preload`)], options.timeoutMs);
        const [w] = await runTogether([spawn('celeriac-worker.js', workerConfig, `${scenario} worker`)], options.timeoutMs);
        return result(scenario, {
          tasks: n,
          seconds: (w.report.finishedAt - w.report.startedAt) / 1000,
          worker: w.stats,
          ...w.serviceCpu,
          notes: [
            "timed from the worker's first delivery to its last task done; " +
              `the warm-up's ${warmup} tasks are drained too (as in floor-consume)`,
          ],
        });
      }
      if (mode === 'publish') {
        // No worker: the messages stay in the queue (deleted below), as in floor-publish.
        const [p] = await runTogether([spawn('celeriac-producer.js', producerConfig, `${scenario} producer`)], options.timeoutMs);
        return result(scenario, {
          tasks: n,
          seconds: (p.report.finishedAt - p.report.startedAt) / 1000,
          producer: p.stats,
          ...p.serviceCpu,
        });
      }
      const worker = spawn('celeriac-worker.js', workerConfig, `${scenario} worker`);
      const producer = spawn('celeriac-producer.js', producerConfig, `${scenario} producer`);
      const [w, p] = await runTogether([worker, producer], options.timeoutMs, {
        ...(options.brokerPids ? { brokerPids: options.brokerPids } : {}),
        ...(variant.afterGo ? { afterGo: variant.afterGo } : {}),
      });
      const publishMs = p.report.finishedAt - p.report.startedAt;
      if (mode === 'chord') {
        const groupSeconds = Number(p.report.extra?.groupSeconds);
        const chordSeconds = Number(p.report.extra?.chordSeconds);
        return result(scenario, {
          tasks: n,
          seconds: chordSeconds,
          cpuTasks: 2 * n + 1,
          chord: { size: n, groupSeconds, chordSeconds },
          producer: p.stats,
          ...p.serviceCpu,
          worker: w.stats,
          notes: ['cpu and rss cover the group and the chord (2N + 1 tasks)'],
        });
      }
      // The worker's RSS checkpoints (countdown and fire-and-forget), as one note.
      const {
        [LATENESS_BY_TENTH]: lateness,
        [WORKER_CONCURRENCY]: concurrency,
        [WORKER_PREFETCH]: prefetch,
        ...rssFigures
      } = w.report.extra ?? {};
      const rss = Object.entries(rssFigures).map(([label, mb]) => `${label}: ${mb}`);
      const rssNote = `worker RSS MB, ${rss.join(', ')}`;
      const workerNote = `worker concurrency ${concurrency}, prefetch ${prefetch}`;
      if (mode === 'countdown') {
        return result(scenario, {
          tasks: n,
          seconds: (w.report.finishedAt - p.report.startedAt) / 1000,
          latency: w.report.latency,
          producer: p.stats,
          ...p.serviceCpu,
          worker: w.stats,
          notes: [
            `countdowns spread over ${Math.round(options.windowMs / 1000)} s; latency columns = start − due time`,
            `${LATENESS_BY_TENTH}: ${lateness}`,
            rssNote,
          ],
        });
      }
      return result(scenario, {
        tasks: n,
        seconds: ((mode === 'fire-and-forget' ? w.report.finishedAt : p.report.finishedAt) - p.report.startedAt) / 1000,
        latency: p.report.latency,
        producer: p.stats,
        ...p.serviceCpu,
        worker: w.stats,
        notes:
          mode === 'fire-and-forget'
            ? [`publishing alone took ${Math.round(publishMs)} ms (${rate(n, publishMs)})`, rssNote, workerNote]
            : [workerNote],
        ...(mode === 'roundtrip' ? { extra: p.report.extra } : {}),
      });
    });
  } finally {
    // The task queue with its same-named exchange, and the dead-letter queue if one was made.
    await deleteQueues(options.amqpUrl, [queue, `${queue}.dead-letter`]);
  }
}

export const celeriacScenarios: Scenario[] = [
  {
    name: 'celeriac-defaults',
    description: 'celeriac-roundtrip with the worker as `celeriac worker -A app` starts it: no concurrency or prefetch options',
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    run: (options) => runCeleriac('celeriac-defaults', { mode: 'roundtrip', worker: () => ({}) }, options),
  },
  {
    name: 'celeriac-c4',
    description: 'celeriac-roundtrip with the worker as `celeriac worker -A app --concurrency=4` starts it',
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    run: (options) => runCeleriac('celeriac-c4', { mode: 'roundtrip', worker: () => ({ concurrency: 4 }) }, options),
  },
  {
    name: 'celeriac-celery-defaults',
    description: "opt-in: celeriac-defaults with Celery's defaults given (-c = the CPUs, --prefetch-multiplier=4), the async pool's before",
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    optIn: true,
    run: (options) =>
      runCeleriac(
        'celeriac-celery-defaults',
        { mode: 'roundtrip', worker: () => ({ concurrency: availableParallelism(), prefetchMultiplier: CELERY_PREFETCH_MULTIPLIER }) },
        options,
      ),
  },
  {
    name: 'celeriac-celery-c4',
    description: "opt-in: celeriac-c4 with Celery's multiplier given (--concurrency=4 --prefetch-multiplier=4: prefetch 16)",
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    optIn: true,
    run: (options) =>
      runCeleriac(
        'celeriac-celery-c4',
        { mode: 'roundtrip', worker: () => ({ concurrency: 4, prefetchMultiplier: CELERY_PREFETCH_MULTIPLIER }) },
        options,
      ),
  },
  {
    name: 'celeriac-roundtrip',
    description: 'celeriac: delay() × N then get() × N; worker (tuned: --concurrency, --prefetch-multiplier) stores results in Redis',
    floor: 'floor-redis-bare',
    otherFloors: ['floor-redis-celery'],
    run: (options) => runCeleriac('celeriac-roundtrip', { mode: 'roundtrip' }, options),
  },
  {
    name: 'celeriac-rpc-roundtrip',
    description: 'celeriac-roundtrip with backend rpc:// (results as messages to the reply queue)',
    floor: 'floor-roundtrip',
    run: (options) => runCeleriac('celeriac-rpc-roundtrip', { mode: 'roundtrip', backendUrl: 'rpc://' }, options),
  },
  {
    name: 'celeriac-fire-and-forget',
    description: 'celeriac: applyAsync(ignoreResult) × N, timed to the worker acking the last',
    floor: 'floor-oneway',
    run: (options) => runCeleriac('celeriac-fire-and-forget', { mode: 'fire-and-forget' }, options),
  },
  {
    name: 'celeriac-publish',
    description: 'celeriac: applyAsync(ignoreResult) × N with no worker, timed to the last confirm',
    floor: 'floor-publish',
    run: (options) => runCeleriac('celeriac-publish', { mode: 'publish' }, options),
  },
  {
    name: 'celeriac-consume',
    description: 'celeriac: a worker drains a preloaded queue (warm-up + N tasks, ignoreResult), timed from its first delivery',
    floor: 'floor-consume',
    run: (options) => runCeleriac('celeriac-consume', { mode: 'consume' }, options),
  },
  {
    name: 'celeriac-latency',
    description: `celeriac: delay() then get(), one at a time, min(N, ${LATENCY_TASKS.toLocaleString('en-US')}) times`,
    floor: 'floor-latency',
    run: (options) => runCeleriac('celeriac-latency', { mode: 'latency', n: (o) => Math.min(o.n, LATENCY_TASKS) }, options),
  },
  {
    name: 'celeriac-rpc-latency',
    description: "celeriac-latency with backend rpc:// (the result comes back through RabbitMQ, as the floor's reply does)",
    floor: 'floor-latency',
    run: (options) =>
      runCeleriac('celeriac-rpc-latency', { mode: 'latency', backendUrl: 'rpc://', n: (o) => Math.min(o.n, LATENCY_TASKS) }, options),
  },
  {
    name: 'celeriac-countdown',
    description: 'celeriac: N applyAsync(countdown spread over --window, ignoreResult); due → start error, worker RSS',
    optIn: true,
    run: (options) =>
      runCeleriac(
        'celeriac-countdown',
        { mode: 'countdown' },
        { ...options, timeoutMs: Math.max(options.timeoutMs, options.windowMs + 120_000) },
      ),
  },
  {
    name: 'celeriac-chord-10k-redis',
    description: `celeriac, redis://: group of min(N, ${CHORD_TASKS.toLocaleString('en-US')}) no-ops, then a chord of them + sum body`,
    run: (options) =>
      runCeleriac(
        'celeriac-chord-10k-redis',
        { mode: 'chord', backendUrl: redisUrlOf(options), n: (o) => Math.min(o.n, CHORD_TASKS) },
        options,
      ),
  },
  {
    name: 'celeriac-chord-10k-rpc',
    description: `celeriac, rpc://: group of min(N, ${CHORD_TASKS.toLocaleString('en-US')}) no-ops, then a chord of them + sum body`,
    run: (options) =>
      runCeleriac('celeriac-chord-10k-rpc', { mode: 'chord', backendUrl: 'rpc://', n: (o) => Math.min(o.n, CHORD_TASKS) }, options),
  },
];
