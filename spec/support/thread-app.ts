import { createApp, type TaskContext } from '../../lib/index.js';

/**
 * The app of the threads-pool specs. The worker's process imports it for the task names, and
 * every pool thread imports it again to run the task code: creating it does no I/O. The broker
 * and backend URLs are replaced per spec with `withUrls`.
 */
export const app = createApp({ name: 'thread-spec', broker: 'memory://thread-spec', backend: 'memory://thread-spec', logLevel: 'silent' });

/** Never returns and never yields: only terminating its thread stops it. */
export const spin = app.task('spec.threads.spin', () => {
  for (;;) {
    // busy loop
  }
});
export const add = app.task('spec.threads.add', (x: number, y: number) => x + y);
export const inThread = app.task('spec.threads.where', async () => (await import('node:worker_threads')).isMainThread === false);
export const retrying = app.task('spec.threads.retry', function (this: TaskContext) {
  if (this.retries < 1) this.retry({ countdown: 50, exc: new RangeError('once more') });
  return this.retries;
});
export const soft = app.task(
  'spec.threads.soft',
  function (this: TaskContext) {
    return new Promise((resolve) => this.signal.addEventListener('abort', () => resolve((this.signal.reason as Error).name)));
  },
  { softTimeLimit: 150 },
);
/** Sleeps `ms` and returns it. */
export const nap = app.task('spec.threads.nap', (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));
/** Returns a class instance without toJSON, which the structured clone to the main thread would turn into a plain object. */
export const classy = app.task(
  'spec.threads.classy',
  () =>
    new (class Point {
      x = 1;
    })(),
);
/** The same value, its result ignored: nothing stores it, so the run succeeds (as in the async pool). */
export const classyIgnored = app.task(
  'spec.threads.classy-ignored',
  () =>
    new (class Point {
      x = 1;
    })(),
  { ignoreResult: true },
);
/** The same value from a task that autoretries every Error: its own result's SerializationError is not retried. */
export const classyAutoretry = app.task(
  'spec.threads.classy-autoretry',
  () =>
    new (class Point {
      x = 1;
    })(),
  { autoretryFor: [Error], maxRetries: 3, defaultRetryDelay: 0 },
);
export default app;
