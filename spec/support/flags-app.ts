import { threadId } from 'node:worker_threads';
import { createApp, type TaskContext } from '../../lib/index.js';

/**
 * The app of the Celery worker-flag specs (`celeriac worker -A` on it). Broker and backend come
 * from $CELERIAC_BROKER_URL / $CELERIAC_RESULT_BACKEND. Creating it does no I/O, so the threads
 * pool's threads import it too.
 */
export const app = createApp({
  name: 'flags-spec',
  broker: process.env.CELERIAC_BROKER_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  backend: process.env.CELERIAC_RESULT_BACKEND ?? 'redis://127.0.0.1:6379/0',
  brokerConnectionMaxRetries: 3,
});

/** Memory a task keeps for as long as its thread (or process) lives. */
const kept: number[][] = [];

/** Sleeps `ms` (or until its signal aborts), then returns `ms`. */
export const sleep = app.task('spec.flags.sleep', function (this: TaskContext, ms: number) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms, ms);
    this.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
});
/** Waits for its signal to abort (a soft time limit) and returns the reason's name. */
export const soft = app.task('spec.flags.soft', function (this: TaskContext) {
  return new Promise((resolve) => this.signal.addEventListener('abort', () => resolve((this.signal.reason as Error).name)));
});
/** The id of the thread running it (0: the worker's main thread). */
export const thread = app.task('spec.flags.thread', () => threadId);
/** Keeps `mib` MiB of heap for as long as its thread lives; returns the thread id. */
export const grow = app.task('spec.flags.grow', (mib: number) => {
  kept.push(Array.from({ length: (mib * 1024 * 1024) / 8 }, () => 1.5));
  return threadId;
});
export const add = app.task('spec.flags.add', (x: number, y: number) => x + y);
export default app;
