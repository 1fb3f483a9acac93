/**
 * BullMQ worker process for the bench (peer scenarios, bullmq-peer.ts): one Worker with the
 * bench's concurrency; reports when it has completed the warm-up and N jobs.
 */
import { Worker } from 'bullmq';
import { startChild } from './child-runtime.js';
import { connectionOf, type BullmqBenchConfig } from './bullmq-peer.js';
import { now } from './ipc.js';

export interface BullmqWorkerConfig extends BullmqBenchConfig {
  concurrency: number;
  /** Jobs to complete in all, warm-up included. */
  expected: number;
}

const child = startChild<BullmqWorkerConfig>();

child.run(async () => {
  const config = child.config;
  let done = 0;
  let startedAt = 0;
  let go = false;
  const worker = new Worker(config.queue, async (job) => (job.data as { i: number }).i, {
    connection: connectionOf(config.redisUrl),
    concurrency: config.concurrency,
  });
  worker.on('failed', (job, error) => child.fail(new Error(`job ${job?.id} failed: ${error.message}`)));
  worker.on('completed', () => {
    done++;
    if (go && startedAt === 0) startedAt = now();
    if (done === config.expected) child.finished({ startedAt, finishedAt: now(), count: config.n });
  });
  await worker.waitUntilReady();
  const progress = setInterval(() => child.progress(`done ${done}/${config.expected} (warm-up included)`), 1000);
  await child.ready();
  go = true;
  await child.stopped();
  clearInterval(progress);
  await worker.close();
  child.exit();
});
