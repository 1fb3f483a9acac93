/**
 * celeriac worker process for the bench (forked by celeriac-roundtrip.ts), on the worker-child
 * skeleton (worker-child.ts): the bench app's worker with the concurrency and prefetch
 * multiplier it is given, or with neither (celeriac's defaults, as `celeriac worker -A app`
 * without -c and --prefetch-multiplier). It reports 'finished' when warmup + N tasks (or
 * `expected`) are done — counted on the worker's 'task-done' event, which fires after the outcome
 * was recorded and the message acked — so fire-and-forget runs can be timed to the last ack.
 */
import { startChild } from './child-runtime.js';
import { createBenchApp, type CeleriacBenchConfig } from './celeriac-app.js';
import { now } from './ipc.js';
import { LATENESS_BY_TENTH, summarizeLatency, WORKER_CONCURRENCY, WORKER_PREFETCH } from './measure.js';
import { RssCheckpoints } from './rss-checkpoints.js';
import { benchWorker, runWorkerChild } from './worker-child.js';

export interface CeleriacWorkerConfig extends CeleriacBenchConfig {
  /** The worker option; absent: celeriac's default. */
  concurrency?: number;
  /** The worker option; absent: celeriac's default. */
  prefetchMultiplier?: number;
  /** Tasks it runs before reporting 'finished', warm-up included; default warmup + n. */
  expected?: number;
  /** Countdown runs: record, for each task with an ETA, start time − due time; reported as latency. */
  measureDueError?: boolean;
  /**
   * Long runs: record the RSS at 'go' (idle, warm-up done) and when the 1st, 25 %, 50 %, 75 % and
   * last of the N measured tasks are done (rss-checkpoints.ts); reported as extra figures.
   */
  rssCheckpoints?: boolean;
  /**
   * Consume runs (a queue preloaded before the worker starts): connect before 'go', start the
   * worker after it, and time from its first delivery to its last task done (its ack queued).
   * The CPU columns count the worker's start, not its connection.
   */
  startOnGo?: boolean;
}

const child = startChild<CeleriacWorkerConfig>();

/**
 * The median lateness (ms) of each tenth of the countdown tasks, in the order they started
 * (about the order they were due): whether tasks start later the longer the run goes on.
 */
function latenessByTenth(dueErrors: Float64Array): string {
  const tenths: string[] = [];
  for (let i = 0; i < 10; i++) {
    const slice = dueErrors.subarray(Math.floor((i * dueErrors.length) / 10), Math.floor(((i + 1) * dueErrors.length) / 10));
    tenths.push(slice.length ? summarizeLatency(slice).p50.toFixed(0) : '-');
  }
  return tenths.join(' / ');
}

child.run(async () => {
  const config = child.config;
  const { app } = createBenchApp(config);
  const worker = benchWorker(app, config.queue, {
    ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
    ...(config.prefetchMultiplier !== undefined ? { prefetchMultiplier: config.prefetchMultiplier } : {}),
  });

  const expected = config.expected ?? config.warmup + config.n;
  let done = 0;
  let startedAt = 0;
  const dueErrors = new Float64Array(config.n);
  let timed = 0;
  if (config.measureDueError) {
    worker.on('task-started', (request) => {
      const eta = request.message.headers.eta;
      if (!eta || timed >= dueErrors.length) return;
      dueErrors[timed++] = Date.now() - Date.parse(eta);
    });
  }
  // Made before 'go' (see its constructor); its idle reading is taken at 'go'.
  const rss = config.rssCheckpoints ? new RssCheckpoints(config.n) : undefined;
  const taskDone = (): void => {
    // The warm-up was done before 'go' (except in consume runs): every later task is a measured one.
    if (++done > config.warmup) rss?.count(done - config.warmup);
    if (done === expected) {
      child.finished({
        startedAt,
        finishedAt: now(),
        count: config.n,
        latency: config.measureDueError ? summarizeLatency(dueErrors.subarray(0, timed)) : undefined,
        extra: {
          [WORKER_CONCURRENCY]: worker.concurrency,
          [WORKER_PREFETCH]: worker.prefetch,
          ...rss?.figures,
          ...(config.measureDueError ? { [LATENESS_BY_TENTH]: latenessByTenth(dueErrors.subarray(0, timed)) } : {}),
        },
      });
    }
  };

  await runWorkerChild(child, app, worker, config.queue, config.startOnGo ?? false, {
    taskDone,
    // Consume runs: timed from the first delivery (the floor's consumer too connects first).
    atGo: () => (config.startOnGo ? worker.once('task-received', () => (startedAt = now())) : (startedAt = now())),
    started: () => rss?.start('idle at go'),
    progress: () => `done ${done}/${expected} (warm-up included)`,
    progressEveryMs: 1000,
  });
});
