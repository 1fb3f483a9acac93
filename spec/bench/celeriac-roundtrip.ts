/**
 * celeriac itself, measured like the floor (raw-floor.ts) in the same run: a worker process
 * (concurrency and prefetch as the floor consumer's) and a producer process, a queue unique to
 * the run, broker and backend on this machine.
 *
 * - celeriac-roundtrip: N × delay(i) fired at once, then every get(); compare with
 *   floor-roundtrip. Throughput = first delay() → last result, in the producer.
 * - celeriac-fire-and-forget: N × applyAsync([i], {}, { ignoreResult: true }); compare with
 *   floor-oneway. Throughput = first applyAsync() → the worker's N-th ack.
 */
import { withChildren } from './child.js';
import { deleteQueues } from './broker-admin.js';
import type { CeleriacBenchConfig } from './celeriac-app.js';
import type { CeleriacProducerConfig } from './celeriac-producer.js';
import type { CeleriacWorkerConfig } from './celeriac-worker.js';
import { rate, result, runTogether, uniqueQueue, WARMUP_TASKS, type BenchOptions, type Scenario, type ScenarioResult } from './scenario.js';

async function runCeleriac(scenario: string, mode: CeleriacProducerConfig['mode'], options: BenchOptions): Promise<ScenarioResult> {
  const queue = uniqueQueue(scenario);
  const base: CeleriacBenchConfig = {
    amqpUrl: options.amqpUrl,
    backendUrl: options.backendUrl,
    queue,
    n: options.n,
    warmup: WARMUP_TASKS,
  };
  try {
    return await withChildren(options.onProgress, async (spawn) => {
      const worker = spawn('celeriac-worker.js', {
        ...base,
        concurrency: options.concurrency,
        prefetchMultiplier: options.prefetchMultiplier,
      } satisfies CeleriacWorkerConfig, `${scenario} worker`);
      const producer = spawn('celeriac-producer.js', {
        ...base,
        mode,
        resultTimeoutMs: options.timeoutMs,
      } satisfies CeleriacProducerConfig, `${scenario} producer`);
      const [w, p] = await runTogether([worker, producer], options.timeoutMs);
      const publishMs = p.report.finishedAt - p.report.startedAt;
      return result(scenario, {
        tasks: options.n,
        seconds: ((mode === 'roundtrip' ? p.report.finishedAt : w.report.finishedAt) - p.report.startedAt) / 1000,
        latency: p.report.latency,
        producer: p.stats,
        worker: w.stats,
        notes: mode === 'roundtrip' ? [] : [`publishing alone took ${Math.round(publishMs)} ms (${rate(options.n, publishMs)})`],
      });
    });
  } finally {
    // The task queue with its same-named exchange, and the dead-letter queue if one was made.
    await deleteQueues(options.amqpUrl, [queue, `${queue}.dead-letter`]);
  }
}

export const celeriacScenarios: Scenario[] = [
  {
    name: 'celeriac-roundtrip',
    description: 'celeriac: delay() × N then get() × N; worker stores results in the backend',
    floor: 'floor-roundtrip',
    run: (options) => runCeleriac('celeriac-roundtrip', 'roundtrip', options),
  },
  {
    name: 'celeriac-fire-and-forget',
    description: 'celeriac: applyAsync(ignoreResult) × N, timed to the worker acking the last',
    floor: 'floor-oneway',
    run: (options) => runCeleriac('celeriac-fire-and-forget', 'fire-and-forget', options),
  },
];
