import { createApp, type TaskContext } from '../../lib/index.js';

/**
 * The app of the celeriac worker the Flower specs watch (`celeriac worker -A <this> -E`): the
 * node.* tasks that spec/interop/python/tasks.py declares as stubs, so Flower (run with
 * `-A tasks`) knows their names for its async-apply, rate-limit and timeout endpoints.
 * Configured by environment: CELERIAC_BROKER_URL and CELERIAC_RESULT_BACKEND as any app,
 * FLOWER_SPEC_QUEUE the worker's default queue (one per test file). Creating it does no I/O.
 */
export const FLOWER_APP = new URL('./flower-app.js', import.meta.url).pathname;

export const app = createApp({ name: 'flower-spec', defaultQueue: process.env.FLOWER_SPEC_QUEUE ?? 'spec.flower', logLevel: 'info' });

export const add = app.task('node.add', (x: number, y: number) => x + y, { argNames: ['x', 'y'] });

export const fail = app.task(
  'node.fail',
  (message: string): number => {
    throw new TypeError(message);
  },
  { argNames: ['message'] },
);

/** Retries itself once at once (countdown 0), then returns how many retries it took. */
export const retryOnce = app.task('node.retry_once', function (this: TaskContext) {
  if (this.retries < 1) this.retry({ countdown: 0, exc: new RangeError('once more') });
  return this.retries;
});

/** Sleeps `ms` and returns it; gives up when its signal aborts (revoke with terminate, a time limit). */
export const sleep = app.task(
  'node.sleep',
  function (this: TaskContext, ms: number) {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => resolve(ms), ms);
      this.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(this.signal.reason as Error);
      });
    });
  },
  { argNames: ['ms'] },
);

export default app;
