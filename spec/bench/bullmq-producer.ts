/**
 * BullMQ producer process for the bench (peer scenarios, bullmq-peer.ts), measured as
 * celeriac's producer is (celeriac-producer.ts): `queue.add()` per job, and its result from the
 * queue's events (QueueEvents 'completed', which carries the return value).
 *
 * mode 'roundtrip': N `add()` calls fired without awaiting any, then every result awaited;
 *   finishes at the last. Latency per job = add() call → its result.
 * mode 'latency': one `add()` and its result at a time, N times.
 * Before 'go' it runs `warmup` jobs the same way, so connections and Redis scripts are ready.
 *
 * Each job's id is chosen here and its waiter registered before `add()`: a job can complete
 * before `add()` resolves.
 */
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { startChild } from './child-runtime.js';
import { connectionOf, JOB_NAME, type BullmqBenchConfig } from './bullmq-peer.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';

export interface BullmqProducerConfig extends BullmqBenchConfig {
  mode: 'roundtrip' | 'latency';
  resultTimeoutMs: number;
}

/** Events one job adds to its queue's stream, at most (added, waiting, active, completed, ...). */
const EVENTS_PER_JOB = 10;

const child = startChild<BullmqProducerConfig>();

child.run(async () => {
  const { n, warmup, mode, resultTimeoutMs } = child.config;
  const connection = connectionOf(child.config.redisUrl);
  // Every job adds a few events to the queue's event stream, which BullMQ trims to 10,000 by
  // default: with thousands of jobs in flight, completions were trimmed away before QueueEvents
  // read them (1,862 of 20,000 lost in one run). The stream holds the whole run here.
  const queue = new Queue(child.config.queue, { connection, streams: { events: { maxLen: EVENTS_PER_JOB * (n + warmup) } } });
  // From the start of the run's new queue's event stream: by default QueueEvents reads only what
  // comes after its first read, which it may issue after the first jobs already completed.
  const events = new QueueEvents(child.config.queue, { connection, lastEventId: '0' });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  // The stream's bound is the queue's meta field, written by the Queue once it is ready (its
  // scripts set BullMQ's default of 10,000 when the field is missing): checked, not assumed.
  await queue.getVersion();
  const maxLenEvents = Number((await queue.getMeta()).maxLenEvents);
  if (!(maxLenEvents >= EVENTS_PER_JOB * (n + warmup))) {
    throw new Error(`the queue's events stream holds ${maxLenEvents} events, the run needs ${EVENTS_PER_JOB * (n + warmup)}`);
  }

  /** Waiters by job id; a job's waiter exists before the job does. */
  const waiters = new Map<string, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  events.on('completed', ({ jobId, returnvalue }) => {
    const waiter = waiters.get(jobId);
    waiters.delete(jobId);
    waiter?.resolve(returnvalue);
  });
  events.on('failed', ({ jobId, failedReason }) => {
    const waiter = waiters.get(jobId);
    waiters.delete(jobId);
    waiter?.reject(new Error(`job ${jobId} failed: ${failedReason}`));
  });
  const prefix = randomBytes(4).toString('hex');

  /** One job to its result; checks the worker returned what it was given. */
  const roundTrip = async (i: number): Promise<void> => {
    const jobId = `${prefix}-${i}`;
    let timer: NodeJS.Timeout | undefined;
    const result = new Promise<unknown>((resolve, reject) => {
      waiters.set(jobId, { resolve, reject });
      timer = setTimeout(() => reject(new Error(`no result for job ${i} within ${resultTimeoutMs} ms`)), resultTimeoutMs);
    });
    try {
      await queue.add(JOB_NAME, { i }, { jobId });
      const value = await result;
      if (value !== i) throw new Error(`job ${i} returned ${JSON.stringify(value)}`);
    } finally {
      clearTimeout(timer);
      waiters.delete(jobId);
    }
  };

  if (mode === 'latency') {
    for (let i = 0; i < warmup; i++) await roundTrip(-1 - i);
  } else {
    await Promise.all(Array.from({ length: warmup }, (_, i) => roundTrip(-1 - i)));
  }

  await child.ready();
  const latency = new Float64Array(n);
  let completed = 0;
  const progress = setInterval(() => child.progress(`results ${completed}/${n}`), 1000);
  const startedAt = now();
  if (mode === 'latency') {
    for (let i = 0; i < n; i++, completed++) {
      const sentAt = now();
      await roundTrip(i);
      latency[i] = now() - sentAt;
    }
  } else {
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const sentAt = now();
        return roundTrip(i).then(() => {
          latency[i] = now() - sentAt;
          completed++;
        });
      }),
    );
  }
  const finishedAt = now();
  clearInterval(progress);
  child.finished({ startedAt, finishedAt, count: n, latency: summarizeLatency(latency) });
  await child.stopped();
  // Not timed: the run's jobs and queue keys go, so repeated runs do not pile up in Redis.
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  child.exit();
});
