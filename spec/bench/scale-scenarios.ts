/**
 * Cost as the work grows: the scale scenarios, opt-in (`--scenario NAME`, or `--scale` for all)
 * because at full size each takes minutes. `--scale-factor F` runs F × each size (0.01 to try
 * them out); at full size they belong on a broker of their own (`--rabbit-node PORT`, run.ts):
 * a million queued messages or gigabytes of large ones move a shared broker towards its memory
 * and disk alarms, which block every publisher on it.
 *
 * - scale-chord-100k / scale-group-100k: N = 100,000 no-op `delay(i)` fired at once, every
 *   `get()` (the tasks alone), then a chord of the same N with a summing body (or a group of
 *   them) to its result; one worker, Redis results. Notes: both wall times and their ratio, and
 *   the producer's and the worker's RSS at 25/50/75/100 % of each phase's tasks done.
 * - scale-backlog-1m: 1,000,000 `applyAsync(ignoreResult)` queued with no worker running, then
 *   drained by two worker processes started together: the throughput of each tenth of the drain
 *   (first against last: flat?) and each worker's RSS at every 10 %.
 * - scale-1mb-args: 10,000 tasks each given a 1 MB string (the task returns its length),
 *   at most BIG_WINDOW sent and unanswered, so the broker holds at most that many; beside raw
 *   amqplib moving the same bodies the same way in the same scenario (scale-raw-bytes.ts). MB/s.
 * - scale-inflight-heap: the producer's heap per `delay()` in flight (scale-heap.ts), 20,000
 *   sends with no worker, unscaled (it is the default --n of every other scenario).
 */
import { deleteQueues } from './broker-admin.js';
import { withChildren, type SpawnChild } from './child.js';
import { withQueues } from './raw-floor.js';
import { combined, drive, percent, scaled } from './scale-drive.js';
import type { ScaleHeapConfig } from './scale-heap.js';
import type { ScaleProducerConfig } from './scale-producer.js';
import type { ScaleRawBytesConfig } from './scale-raw-bytes.js';
import { ProgressTally, rssNotes, strideOf, type Checkpoint } from './scale-ticks.js';
import type { ScaleWorkerConfig } from './scale-worker.js';
import { prefetchOf, result, uniqueQueue, type BenchOptions, type Scenario, type ScenarioResult } from './scenario.js';

const CANVAS_TASKS = 100_000;
const BACKLOG_TASKS = 1_000_000;
const BIG_TASKS = 10_000;
const BIG_PAYLOAD_BYTES = 1_000_000;
/** scale-1mb-args: tasks sent and not yet answered at most, celeriac and raw alike (16 MB in the broker). */
const BIG_WINDOW = 16;
const HEAP_SENDS = 20_000;
/** The backlog takes minutes to publish and to drain at full size, whatever --timeout says. */
const BACKLOG_MIN_TIMEOUT_MS = 30 * 60_000;

const QUARTERS = [0.25, 0.5, 0.75, 1];
const TENTHS = Array.from({ length: 10 }, (_, i) => (i + 1) / 10);

const seconds = (ms: number): string => (ms / 1000).toFixed(2);
const perSecond = (count: number, ms: number): string => Math.round(count / (ms / 1000)).toLocaleString('en-US');

function workerConfig(options: BenchOptions, queue: string, total: number, startOnGo: boolean): ScaleWorkerConfig {
  return {
    amqpUrl: options.amqpUrl,
    backendUrl: options.backendUrl,
    queue,
    concurrency: options.concurrency,
    prefetchMultiplier: options.prefetchMultiplier,
    stride: strideOf(total),
    startOnGo,
  };
}

/** The scale producer's config for `queue`: the run's broker, backend and result timeout, and `fields`. */
function producerConfig(
  options: BenchOptions,
  queue: string,
  fields: Pick<ScaleProducerConfig, 'mode' | 'n'> & Partial<Pick<ScaleProducerConfig, 'canvas' | 'payloadBytes' | 'window'>>,
): ScaleProducerConfig {
  return { amqpUrl: options.amqpUrl, backendUrl: options.backendUrl, queue, ...fields, resultTimeoutMs: options.timeoutMs };
}

/**
 * One scale worker consuming from the start (ticks sized for `total` tasks) and the scale
 * producer, both watched by `tally`; driven until the producer reports. The run's reports[0] is
 * the producer's, stats[0] the worker's and stats[1] the producer's.
 */
function driveWorkerAndProducer(
  spawn: SpawnChild,
  options: BenchOptions,
  tally: ProgressTally,
  name: string,
  total: number,
  config: ScaleProducerConfig,
) {
  const worker = spawn('scale-worker.js', workerConfig(options, config.queue, total, false), `${name} worker`);
  const producer = spawn('scale-producer.js', config, `${name} producer`);
  tally.watch('producer', producer.pid);
  tally.watch('worker', worker.pid);
  return drive([worker, producer], [producer], tally, options);
}

/** Always deletes the scenario's task queue (and its dead-letter queue) afterwards. */
async function withTaskQueue<T>(options: BenchOptions, queue: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await deleteQueues(options.amqpUrl, [queue, `${queue}.dead-letter`]);
  }
}

async function runCanvas(name: string, canvas: 'chord' | 'group', options: BenchOptions): Promise<ScenarioResult> {
  const queue = uniqueQueue(name);
  const n = scaled(CANVAS_TASKS, options);
  const canvasTasks = canvas === 'chord' ? n + 1 : n;
  const checkpoints: Checkpoint[] = [
    ...QUARTERS.map((f) => ({ label: `alone ${percent(f)}`, count: Math.ceil(f * n) })),
    ...QUARTERS.map((f) => ({ label: `${canvas} ${percent(f)}`, count: n + Math.ceil(f * canvasTasks) })),
  ];
  const tally = new ProgressTally(checkpoints, options.onProgress);
  return withTaskQueue(options, queue, () =>
    withChildren(tally.onProgress, async (spawn) => {
      const run = await driveWorkerAndProducer(
        spawn,
        options,
        tally,
        name,
        2 * n,
        producerConfig(options, queue, { mode: 'canvas', canvas, n }),
      );
      const extra = run.reports[0].extra ?? {};
      const [aloneSeconds, canvasSeconds] = [Number(extra.aloneSeconds), Number(extra.canvasSeconds)];
      return result(name, {
        tasks: n,
        seconds: canvasSeconds,
        cpuTasks: n + canvasTasks,
        producer: run.stats[1],
        worker: run.stats[0],
        ...run.serviceCpu,
        notes: [
          `${canvas} of ${n.toLocaleString('en-US')}: ${canvasSeconds.toFixed(2)} s; the same tasks sent alone with delay(): ` +
            `${aloneSeconds.toFixed(2)} s; ${canvas} / alone ${(canvasSeconds / aloneSeconds).toFixed(2)}`,
          `tasks/s is the ${canvas}'s; cpu covers both phases (${(n + canvasTasks).toLocaleString('en-US')} tasks)`,
          ...rssNotes(await tally.settled()),
        ],
      });
    }),
  );
}

async function runBacklog(options: BenchOptions): Promise<ScenarioResult> {
  const name = 'scale-backlog-1m';
  const queue = uniqueQueue(name);
  const n = scaled(BACKLOG_TASKS, options);
  // The producer's one warm-up send is queued with the rest: the workers drain n + 1.
  const total = n + 1;
  const timeoutMs = Math.max(options.timeoutMs, BACKLOG_MIN_TIMEOUT_MS);
  const tally = new ProgressTally(
    TENTHS.map((f) => ({ label: percent(f), count: Math.ceil(f * total) })),
    options.onProgress,
  );
  return withTaskQueue(options, queue, () =>
    withChildren(tally.onProgress, async (spawn) => {
      const producer = spawn('scale-producer.js', producerConfig(options, queue, { mode: 'backlog', n }), `${name} producer`);
      const published = await drive([producer], [producer], null, options, timeoutMs);
      const publishMs = published.reports[0].finishedAt - published.reports[0].startedAt;
      options.onProgress(name, `${n} queued in ${seconds(publishMs)} s; draining with two workers`);

      const workers = [1, 2].map((i) => spawn('scale-worker.js', workerConfig(options, queue, total, true), `${name} worker ${i}`));
      workers.forEach((worker, i) => tally.watch(`worker ${i + 1}`, worker.pid));
      const drained = await drive(workers, [], tally, options, timeoutMs);
      const at = (fraction: number): number => (fraction === 0 ? drained.goAt : tally.reachedAt(Math.ceil(fraction * total)));
      const tenths = TENTHS.map((f) => {
        const from = f - 0.1;
        return (Math.ceil(f * total) - Math.ceil(from * total)) / ((at(f) - at(from)) / 1000);
      });
      const [first, last] = [tenths[0], tenths[tenths.length - 1]];
      const wallMs = at(1) - drained.goAt;
      return result(name, {
        tasks: total,
        seconds: wallMs / 1000,
        producer: published.stats[0],
        worker: combined(drained.stats),
        ...drained.serviceCpu,
        notes: [
          `queued ${n.toLocaleString('en-US')} with no worker in ${seconds(publishMs)} s (${perSecond(n, publishMs)}/s); ` +
            `two workers drained them in ${seconds(wallMs)} s; cpu ms/task wrk sums both, rss MB wrk is the higher peak`,
          `drain tasks/s by tenth: ${tenths.map((r) => Math.round(r).toLocaleString('en-US')).join(' / ')}; ` +
            `last tenth / first tenth ${(last / first).toFixed(2)}`,
          ...rssNotes(await tally.settled()),
        ],
      });
    }),
  );
}

async function runBigArgs(options: BenchOptions): Promise<ScenarioResult> {
  const name = 'scale-1mb-args';
  const queue = uniqueQueue(name);
  const n = scaled(BIG_TASKS, options);
  const megabytes = (n * BIG_PAYLOAD_BYTES) / 1e6;

  // Raw amqplib first: its task queue (durable) and its reply queue, deleted after.
  const rawQueue = `${queue}.raw`;
  const rawReplies = `${rawQueue}.replies`;
  const raw = await withQueues(
    options,
    [
      { name: rawQueue, durable: true },
      { name: rawReplies, durable: false },
    ],
    () =>
      withChildren(options.onProgress, async (spawn) => {
        const base = { url: options.amqpUrl, queue: rawQueue, replyQueue: rawReplies, n, payloadBytes: BIG_PAYLOAD_BYTES };
        const config = { ...base, window: BIG_WINDOW, prefetch: prefetchOf(options) };
        const consumer = spawn('scale-raw-bytes.js', { ...config, role: 'consumer' } satisfies ScaleRawBytesConfig, `${name} raw consumer`);
        const producer = spawn('scale-raw-bytes.js', { ...config, role: 'producer' } satisfies ScaleRawBytesConfig, `${name} raw producer`);
        const run = await drive([consumer, producer], [producer], null, options);
        return { ms: run.reports[0].finishedAt - run.reports[0].startedAt, producer: run.stats[1], consumer: run.stats[0] };
      }),
  );

  const tally = new ProgressTally([{ label: '100%', count: n }], options.onProgress);
  return withTaskQueue(options, queue, () =>
    withChildren(tally.onProgress, async (spawn) => {
      const config = producerConfig(options, queue, { mode: 'big-args', n, payloadBytes: BIG_PAYLOAD_BYTES, window: BIG_WINDOW });
      const run = await driveWorkerAndProducer(spawn, options, tally, name, n, config);
      const ms = run.reports[0].finishedAt - run.reports[0].startedAt;
      const [own, floor] = [megabytes / (ms / 1000), megabytes / (raw.ms / 1000)];
      const rawCpu = (stats: typeof raw.producer): string => ((stats.cpuUserMs + stats.cpuSystemMs) / n).toFixed(2);
      const rawRss = (stats: typeof raw.producer): number => Math.round(stats.peakRssBytes / 2 ** 20);
      const size = `${n.toLocaleString('en-US')} tasks × ${BIG_PAYLOAD_BYTES.toLocaleString('en-US')}-byte argument`;
      return result(name, {
        tasks: n,
        seconds: ms / 1000,
        producer: run.stats[1],
        worker: run.stats[0],
        ...run.serviceCpu,
        notes: [
          `${size}, at most ${BIG_WINDOW} unanswered: ` +
            `${own.toFixed(1)} MB/s; raw amqplib, the same bodies and window: ${floor.toFixed(1)} MB/s; ` +
            `celeriac / raw ${(own / floor).toFixed(2)}`,
          `raw amqplib cpu ms/task: producer ${rawCpu(raw.producer)}, consumer ${rawCpu(raw.consumer)}; ` +
            `peak RSS MB: producer ${rawRss(raw.producer)}, consumer ${rawRss(raw.consumer)}`,
          ...rssNotes(await tally.settled()),
        ],
      });
    }),
  );
}

async function runInflightHeap(options: BenchOptions): Promise<ScenarioResult> {
  const name = 'scale-inflight-heap';
  const queue = uniqueQueue(name);
  return withTaskQueue(options, queue, () =>
    withChildren(options.onProgress, async (spawn) => {
      const producer = spawn(
        'scale-heap.js',
        { amqpUrl: options.amqpUrl, backendUrl: options.backendUrl, queue, n: HEAP_SENDS } satisfies ScaleHeapConfig,
        `${name} producer`,
      );
      const run = await drive([producer], [producer], null, options);
      const report = run.reports[0];
      const extra = report.extra ?? {};
      const kb = (key: string): string => `${(Number(extra[key]) / 1024).toFixed(2)} KB`;
      return result(name, {
        tasks: HEAP_SENDS,
        seconds: (report.finishedAt - report.startedAt) / 1000,
        producer: run.stats[0],
        ...run.serviceCpu,
        notes: [
          `per delay() with its get() waiting, ${HEAP_SENDS.toLocaleString('en-US')} sends, no worker, after forced collections: ` +
            `V8 heap ${kb('unconfirmedHeapBytes')} while unconfirmed, ${kb('confirmedHeapBytes')} once confirmed; ` +
            `outside the heap (Buffers) ${kb('unconfirmedExternalBytes')} and ${kb('confirmedExternalBytes')}`,
          'tasks/s: the sends and their confirms, collections included (not a throughput figure)',
        ],
      });
    }),
  );
}

export const scaleScenarios: Scenario[] = [
  {
    name: 'scale-chord-100k',
    description: 'a chord of 100,000 no-ops + sum body vs the same tasks sent alone; RSS at 25 % steps (Redis)',
    optIn: true,
    run: (options) => runCanvas('scale-chord-100k', 'chord', options),
  },
  {
    name: 'scale-group-100k',
    description: 'a group of 100,000 no-ops vs the same tasks sent alone; RSS at 25 % steps (Redis)',
    optIn: true,
    run: (options) => runCanvas('scale-group-100k', 'group', options),
  },
  {
    name: 'scale-backlog-1m',
    description: '1,000,000 queued tasks drained by two workers: first vs last tenth, worker RSS by tenth',
    optIn: true,
    run: runBacklog,
  },
  {
    name: 'scale-1mb-args',
    description: '10,000 tasks with a 1 MB argument, 16 unanswered at most: MB/s vs raw amqplib',
    optIn: true,
    run: runBigArgs,
  },
  {
    name: 'scale-inflight-heap',
    description: "the producer's heap per delay() in flight (20,000, no worker, forced GC)",
    optIn: true,
    run: runInflightHeap,
  },
];

/** Names of the scale scenarios, for run.ts's --scale. */
export const SCALE_SCENARIO_NAMES = scaleScenarios.map((s) => s.name);
