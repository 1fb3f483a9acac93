/**
 * celeriac worker process for the bench (forked by celeriac-roundtrip.ts): the bench app's
 * worker with the run's concurrency and prefetch. It reports 'finished' when warmup + N tasks
 * (or `expected`) are done — counted on the worker's 'task-done' event, which fires after the outcome was
 * recorded and the message acked — so fire-and-forget runs can be timed to the last ack.
 */
import { startChild } from './child-runtime.js';
import { createBenchApp, type CeleriacBenchConfig } from './celeriac-app.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';

export interface CeleriacWorkerConfig extends CeleriacBenchConfig {
  concurrency: number;
  prefetchMultiplier: number;
  /** Tasks it runs before reporting 'finished', warm-up included; default warmup + n. */
  expected?: number;
  /**
   * Countdown runs: record, for each task with an ETA, start time − due time, and the RSS
   * when the first, the middle and the last task start; reported as latency and extra figures.
   */
  measureDueError?: boolean;
}

const child = startChild<CeleriacWorkerConfig>();

child.run(async () => {
  const config = child.config;
  const { app } = createBenchApp(config);
  const worker = app.worker({
    concurrency: config.concurrency,
    prefetchMultiplier: config.prefetchMultiplier,
    queues: [config.queue],
    hostname: `bench@${process.pid}`,
  });

  const expected = config.expected ?? config.warmup + config.n;
  let done = 0;
  let startedAt = 0;
  const dueErrors = new Float64Array(config.n);
  let timed = 0;
  const rssMb: Record<string, number> = {};
  if (config.measureDueError) {
    rssMb['rss MB idle before go'] = Math.round(process.memoryUsage().rss / 2 ** 20);
    worker.on('task-started', (request) => {
      const eta = request.message.headers.eta;
      if (!eta || timed >= dueErrors.length) return;
      dueErrors[timed++] = Date.now() - Date.parse(eta);
      if (timed === 1 || timed === Math.ceil(config.n / 2) || timed === config.n) {
        rssMb[`rss MB at start ${timed.toLocaleString('en-US')}`] = Math.round(process.memoryUsage().rss / 2 ** 20);
      }
    });
  }
  worker.on('task-done', (request, outcome) => {
    // Not a throw: the worker calls listeners inside its own promise chain.
    if (outcome.state !== 'SUCCESS') return child.fail(new Error(`task ${request.id} ended ${outcome.state}`));
    if (++done === expected) {
      const report = { startedAt, finishedAt: now(), count: config.n };
      child.finished(config.measureDueError ? { ...report, latency: summarizeLatency(dueErrors.subarray(0, timed)), extra: rssMb } : report);
    }
  });

  await worker.start();
  await child.ready();
  startedAt = now();
  const progress = setInterval(() => child.progress(`done ${done}/${expected} (warm-up included)`), 1000);

  await child.stopped();
  clearInterval(progress);
  await worker.stop();
  await app.close();
  child.exit();
});
