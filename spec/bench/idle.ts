/**
 * Idle memory: the resident set of a consumer process that is connected and subscribed but
 * has no work, what every deployed worker costs before it runs a task.
 *
 * - floor-idle: raw amqplib (raw-idle-consumer.ts): one connection, one consumer on a durable
 *   queue with the floor consumer's prefetch, nothing else.
 * - celeriac-idle: the real CLI worker, `celeriac worker -A celeriac-idle-app.js
 *   --concurrency=<--concurrency> --prefetch-multiplier=<…> --loglevel=warn` (the same prefetch
 *   as the floor), on a queue of its own, with the run's broker and backend.
 *
 * Both run as plain processes (no IPC channel, no sampler inside them) and are measured from
 * outside, the same way: ready when their queue has a consumer (a passive declare, polled),
 * then left alone SETTLE_MS, then VmRSS, RssAnon and RssFile read from /proc/<pid>/status
 * once a second, SAMPLES times. The median VmRSS goes into the worker RSS column, the notes
 * give it with its anon and file parts, and the max. --n does not apply. Linux only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connect } from 'amqplib';
import { deleteQueues } from './broker-admin.js';
import type { IdleAppEnv } from './celeriac-idle-app.js';
import { megabytes, readMemory, type MemorySample } from './proc-memory.js';
import { withQueues } from './raw-floor.js';
import type { RawIdleConsumerConfig } from './raw-idle-consumer.js';
import {
  prefetchOf,
  result,
  SETUP_TIMEOUT_MS,
  uniqueQueue,
  type BenchOptions,
  type IdleMemory,
  type Scenario,
  type ScenarioResult,
} from './scenario.js';

/** From the consumer's appearance to the first sample: startup garbage collected, lazy setup done. */
const SETTLE_MS = 10_000;
const SAMPLES = 20;
const SAMPLE_INTERVAL_MS = 1_000;
/** How often readiness is polled. */
const POLL_MS = 200;
/** After SIGTERM, how long the process may take to exit before it is killed. */
const EXIT_GRACE_MS = 10_000;

/** Throws if the process has exited. */
function assertRunning(child: ChildProcess, label: string): void {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${label} exited with ${child.signalCode ?? `code ${child.exitCode}`}`);
  }
}

/**
 * Resolves when `queue` has a consumer. Each poll is a passive declare on a fresh channel: the
 * broker closes the channel when the queue is not declared yet. Rejects when the process exits
 * first, or after SETUP_TIMEOUT_MS.
 */
async function untilConsumed(url: string, queue: string, child: ChildProcess, label: string): Promise<void> {
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  const connection = await connect(url);
  try {
    for (;;) {
      assertRunning(child, label);
      const channel = await connection.createChannel();
      channel.on('error', () => undefined); // the 404 of a queue not declared yet; checkQueue rejects too
      const consumers = await channel.checkQueue(queue).then(
        async ({ consumerCount }) => {
          await channel.close();
          return consumerCount;
        },
        () => 0,
      );
      if (consumers > 0) return;
      if (Date.now() >= deadline) throw new Error(`${label}: no consumer on ${queue} within ${SETUP_TIMEOUT_MS / 1000} s`);
      await sleep(POLL_MS);
    }
  } finally {
    await connection.close();
  }
}

/** SIGTERM, then SIGKILL if the process has not exited within EXIT_GRACE_MS. Never rejects. */
async function stop(child: ChildProcess, exited: Promise<void>, label: string, options: BenchOptions): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), EXIT_GRACE_MS);
  });
  const outcome = await Promise.race([exited, grace]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    options.onProgress(label, `still running ${EXIT_GRACE_MS / 1000} s after SIGTERM: killed`);
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Runs `node args…` (its output to our stderr, like the bench children's) until it consumes
 * from `queue`, lets it settle, samples its memory and stops it. The process is gone when this
 * returns or throws.
 */
async function measureIdle(
  label: string,
  args: string[],
  env: Record<string, string>,
  queue: string,
  options: BenchOptions,
): Promise<{ memory: IdleMemory; seconds: number }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 2, 2], env: { ...process.env, ...env } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await once(child, 'spawn'); // rejects if it could not be started
  try {
    await untilConsumed(options.amqpUrl, queue, child, label);
    options.onProgress(label, `consuming (pid ${child.pid}); settling ${SETTLE_MS / 1000} s, then ${SAMPLES} samples`);
    await sleep(SETTLE_MS);
    const samples: MemorySample[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) await sleep(SAMPLE_INTERVAL_MS);
      assertRunning(child, label);
      samples.push(await readMemory(child.pid!));
    }
    const seconds = (Date.now() - startedAt) / 1000;
    // Nearest-rank median (as measure.ts): a real reading, so its anon and file parts go with it.
    const sorted = [...samples].sort((a, b) => a.rssKb - b.rssKb);
    const memory = { samples: samples.length, median: sorted[Math.ceil(sorted.length / 2) - 1], maxRssKb: sorted[sorted.length - 1].rssKb };
    return { memory, seconds };
  } finally {
    await stop(child, exited, label, options);
  }
}

function idleResult(name: string, { memory, seconds }: { memory: IdleMemory; seconds: number }): ScenarioResult {
  const { median } = memory;
  return result(name, {
    tasks: 0,
    seconds,
    idle: memory,
    notes: [
      `idle RSS MB median ${megabytes(median.rssKb)} (anon ${megabytes(median.anonKb)}, file ${megabytes(median.fileKb)}), ` +
        `max ${megabytes(memory.maxRssKb)} over ${memory.samples} samples`,
    ],
  });
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

const floorIdle: Scenario = {
  name: 'floor-idle',
  description:
    'raw amqplib: RSS of a process consuming from a durable queue, ' + `idle (${(SETTLE_MS + SAMPLES * SAMPLE_INTERVAL_MS) / 1000} s)`,
  optIn: true,
  run: async (options) => {
    const queue = uniqueQueue('floor-idle');
    const config = { url: options.amqpUrl, queue, prefetch: prefetchOf(options) } satisfies RawIdleConsumerConfig;
    return withQueues(options, [{ name: queue, durable: true }], async () =>
      idleResult(
        'floor-idle',
        await measureIdle('floor-idle consumer', [here('raw-idle-consumer.js'), JSON.stringify(config)], {}, queue, options),
      ),
    );
  },
};

const celeriacIdle: Scenario = {
  name: 'celeriac-idle',
  description: `celeriac: RSS of the CLI worker (celeriac worker -A), idle (${(SETTLE_MS + SAMPLES * SAMPLE_INTERVAL_MS) / 1000} s)`,
  floor: 'floor-idle',
  optIn: true,
  run: async (options) => {
    const queue = uniqueQueue('celeriac-idle');
    const env = { BENCH_AMQP_URL: options.amqpUrl, BENCH_BACKEND_URL: options.backendUrl, BENCH_QUEUE: queue } satisfies IdleAppEnv;
    const args = [
      here('../../bin/celeriac.js'),
      'worker',
      '-A',
      here('celeriac-idle-app.js'),
      `--concurrency=${options.concurrency}`,
      `--prefetch-multiplier=${options.prefetchMultiplier}`,
      '--loglevel=warn',
      // Its own node name, so its control queue is not shared with another worker on this host.
      `--hostname=${queue}@%h`,
    ];
    try {
      return idleResult('celeriac-idle', await measureIdle('celeriac-idle worker', args, env, queue, options));
    } finally {
      // The task queue with its same-named exchange, and the dead-letter queue if one was made.
      await deleteQueues(options.amqpUrl, [queue, `${queue}.dead-letter`]);
    }
  },
};

export const idleScenarios: Scenario[] = [floorIdle, celeriacIdle];
