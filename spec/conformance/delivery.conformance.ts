import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  chord,
  NonRetryableError,
  TaskFailedError,
  type App,
  type AppOptions,
  type TaskContext,
  type Worker,
  type WorkerOptions,
} from '../../lib/index.js';
import { encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { removeAppQueues, uniqueName } from '../support/apps.js';

/**
 * Delivery control — retries, broker-side delays, time limits, rate limits, priorities and
 * routing — the same on every broker/backend pair: run on memory:// in spec/unit and on
 * RabbitMQ + Redis in spec/integration. `makeApp` returns an app with its own default queue.
 */
export function describeDeliveryControl(name: string, makeApp: (options?: AppOptions) => App): void {
  describe(`delivery control (${name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    function setup(options: WorkerOptions = {}, appOptions: AppOptions = {}): { app: App; worker: Worker; queue: string } {
      const app = makeApp(appOptions);
      const worker = app.worker({ concurrency: 2, shutdownTimeout: '2s', resultStoreRetryDelays: ['10ms'], ...options });
      cleanups.push(async () => {
        await worker.stop();
        await removeAppQueues(app);
        await app.close();
      });
      return { app, worker, queue: app.config.defaultQueue };
    }

    describe('broker-side delays', () => {
      it('a countdown task waits in the delay tiers, not in the task queue, and arrives when due', async () => {
        const { app, worker, queue } = setup();
        const stamp = app.task('spec.delay.stamp', () => Date.now());
        const sent = Date.now();
        const result = await stamp.applyAsync([], {}, { countdown: 1200 });
        // Nothing in the task queue while the delay runs: the broker holds it.
        assert.equal(await app.transport.messageCount(queue), 0);
        await waitUntil(async () => (await app.transport.messageCount(queue)) === 1, 'the delayed message reaching its queue');
        assert.ok(Date.now() - sent >= 1200, `arrived ${Date.now() - sent} ms after sending`);
        await worker.start();
        const started = await result.get({ timeout: '10s' });
        assert.ok(started - sent >= 1200);
      });

      it('a message that arrives long before its ETA goes back to the tiers instead of being held', async () => {
        const { app, worker, queue } = setup();
        app.task('spec.delay.early', () => Date.now());
        const deferred: number[] = [];
        worker.on('task-deferred', (_request, delayMs) => deferred.push(delayMs));
        await worker.start();
        // What a Python producer (or a skewed clock) sends: an ETA, straight to the queue.
        const message = app.producer.build('spec.delay.early', [], {}, { eta: new Date(Date.now() + 1500) });
        await app.transport.publish(encodeTaskMessage(message, 'json'), { exchange: '', routingKey: queue });
        const started = await app.asyncResult<number>(message.headers.id).get({ timeout: '10s' });
        assert.equal(deferred.length, 1);
        assert.ok(deferred[0] > 1000);
        assert.ok(started >= Date.parse(message.headers.eta!));
      });
    });

    describe('retries', () => {
      it('context.retry() re-sends the same task with retries + 1; RETRY in between, then SUCCESS', async () => {
        const { app, worker } = setup();
        const seen: { retries: number; id: string }[] = [];
        const flaky = app.task('spec.retry.manual', function (this: TaskContext, x: number) {
          seen.push({ retries: this.retries, id: this.id });
          if (this.retries < 2) this.retry({ countdown: 400, exc: new RangeError(`not yet (${this.retries})`) });
          return x * 2;
        });
        await worker.start();
        const result = await flaky.delay(21);
        await waitUntil(async () => (await result.state) === 'RETRY', 'the RETRY state');
        const meta = await result.meta();
        assert.ok(meta, 'the RETRY state has its meta');
        assert.equal((meta.result as { exc_type: string }).exc_type, 'RangeError');
        assert.equal(await result.get({ timeout: '10s' }), 42);
        assert.deepEqual(
          seen.map((s) => s.retries),
          [0, 1, 2],
        );
        assert.ok(seen.every((s) => s.id === result.id));
      });

      it('autoretryFor retries up to maxRetries, then records FAILURE with the original error', async () => {
        const { app, worker } = setup();
        let runs = 0;
        const always = app.task(
          'spec.retry.auto',
          () => {
            runs += 1;
            throw new TypeError(`broken #${runs}`);
          },
          { autoretryFor: [TypeError], maxRetries: 2, retryBackoff: 100, retryBackoffMax: 300 },
        );
        await worker.start();
        const error = await (await always.delay()).get({ timeout: '15s' }).then(
          () => assert.fail('expected FAILURE'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof TaskFailedError);
        assert.equal(error.excType, 'TypeError');
        assert.equal(error.excMessage, 'broken #3');
        assert.equal(runs, 3);
      });

      it('a NonRetryableError fails at once even when autoretryFor matches it', async () => {
        const { app, worker } = setup();
        let runs = 0;
        const refuse = app.task(
          'spec.retry.never',
          () => {
            runs += 1;
            throw new NonRetryableError('bad input, do not retry');
          },
          { autoretryFor: () => true, defaultRetryDelay: 100 },
        );
        await worker.start();
        await assert.rejects(
          (await refuse.delay()).get({ timeout: '10s' }),
          (e: unknown) => e instanceof TaskFailedError && e.excType === 'NonRetryableError',
        );
        assert.equal(runs, 1);
      });

      it("a transient task (deliveryMode 'transient') runs, and its retry is sent transient too", async () => {
        const { app, worker } = setup();
        const flaky = app.task('spec.retry.transient', function (this: TaskContext, x: number) {
          if (this.retries < 1) this.retry({ countdown: 0 });
          return x + 1;
        });
        // Every publish of this task, as the transport is asked for it: the send, then the retry.
        const transport = app.transport;
        const publish = transport.publish.bind(transport);
        const persistent: boolean[] = [];
        transport.publish = (message, target) => {
          if (message.headers.task === 'spec.retry.transient') persistent.push(message.persistent ?? true);
          return publish(message, target);
        };
        await worker.start();
        assert.equal(await flaky.applyAsync([1], {}, { deliveryMode: 'transient' }).get({ timeout: '10s' }), 2);
        assert.deepEqual(persistent, [false, false]);
      });

      it('context.retry() past maxRetries without exc fails with MaxRetriesExceededError', async () => {
        const { app, worker } = setup();
        const forever = app.task(
          'spec.retry.exceeded',
          function (this: TaskContext) {
            this.retry({ countdown: 50 });
          },
          { maxRetries: 1 },
        );
        await worker.start();
        await assert.rejects(
          (await forever.delay()).get({ timeout: '10s' }),
          (e: unknown) => e instanceof TaskFailedError && e.excType === 'MaxRetriesExceededError',
        );
      });

      it('a chord header task that fails twice then succeeds reports to its chord once: the body runs exactly once', async () => {
        const { app, worker } = setup();
        const bodyRuns: number[][] = [];
        const double = app.task('spec.chord.double', (x: number) => x * 2);
        const flaky = app.task(
          'spec.chord.flaky',
          function (this: TaskContext, x: number) {
            if (this.retries < 2) throw new Error(`flaky ${this.retries}`);
            return x * 10;
          },
          { autoretryFor: [Error], defaultRetryDelay: 100, maxRetries: 5 },
        );
        const collect = app.task('spec.chord.collect', (values: number[]) => {
          bodyRuns.push(values);
          return values.reduce((a, b) => a + b, 0);
        });
        await worker.start();
        const result = await chord([double.s(1), flaky.s(2), double.s(3)], collect.s()).applyAsync();
        assert.equal(await result.get({ timeout: '15s' }), 2 + 20 + 6);
        // Give a duplicate body (Celery bug #1401) the chance to show up before checking.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(bodyRuns, [[2, 20, 6]]);
      });
    });

    describe('time limits', () => {
      it('softTimeLimit aborts the task signal with SoftTimeLimitExceeded; the task decides what to do', async () => {
        const { app, worker } = setup();
        const patient = app.task(
          'spec.limits.soft',
          function (this: TaskContext) {
            return new Promise<string>((resolve) =>
              this.signal.addEventListener('abort', () => resolve((this.signal.reason as Error).name)),
            );
          },
          { softTimeLimit: 200 },
        );
        await worker.start();
        assert.equal(await (await patient.delay()).get({ timeout: '10s' }), 'SoftTimeLimitExceeded');
      });

      it('timeLimit records FAILURE with TimeLimitExceeded and frees the slot (async pool)', async () => {
        const { app, worker } = setup({ concurrency: 1 });
        const stuck = app.task('spec.limits.hard', () => new Promise(() => {}));
        const next = app.task('spec.limits.next', () => 'ran');
        await worker.start();
        // The limit comes as a call option, i.e. in the `timelimit` header as Python sends it.
        const failed = await stuck.applyAsync([], {}, { timeLimit: 200 });
        const after = await next.delay();
        await assert.rejects(
          failed.get({ timeout: '10s' }),
          (e: unknown) => e instanceof TaskFailedError && e.excType === 'TimeLimitExceeded',
        );
        assert.equal(await after.get({ timeout: '10s' }), 'ran');
      });
    });

    describe('rate limits', () => {
      it('a rate-limited task waits without blocking other tasks', async () => {
        const { app, worker } = setup({ concurrency: 2 });
        const starts: number[] = [];
        const limited = app.task('spec.rate.limited', () => starts.push(Date.now()), { rateLimit: '4/s' });
        let fastDoneAt = 0;
        const fast = app.task('spec.rate.fast', () => (fastDoneAt = Date.now()));
        await worker.start();
        const limitedResults = [await limited.delay(), await limited.delay(), await limited.delay()];
        const fastResult = await fast.delay();
        await fastResult.get({ timeout: '10s' });
        await Promise.all(limitedResults.map((r) => r.get({ timeout: '10s' })));
        assert.equal(starts.length, 3);
        // 4/s spaces starts by 250 ms; the unlimited task did not queue behind them.
        for (let i = 1; i < starts.length; i++) assert.ok(starts[i] - starts[i - 1] >= 240, `starts ${starts.join(', ')}`);
        assert.ok(fastDoneAt < starts[2], 'the unlimited task ran before the last limited one started');
      });
    });

    describe('priorities', () => {
      it('a high-priority task overtakes a backlog on a queue with x-max-priority', async () => {
        const { app, worker } = setup({ concurrency: 1, prefetchMultiplier: 1 }, { queueMaxPriority: 10 });
        const order: string[] = [];
        const work = app.task('spec.priority.work', (label: string) => order.push(label));
        const backlog = [];
        for (let i = 0; i < 5; i++) backlog.push(await work.applyAsync([`low${i}`], {}, { priority: 0 }));
        const urgent = await work.applyAsync(['high'], {}, { priority: 9 });
        await worker.start();
        await Promise.all([...backlog, urgent].map((r) => r.get({ timeout: '10s' })));
        assert.equal(order[0], 'high');
        assert.deepEqual(order.slice(1), ['low0', 'low1', 'low2', 'low3', 'low4']);
      });
    });

    describe('routing', () => {
      it('taskRoutes sends tasks by name or glob to their queue, and call options still win', async () => {
        const images = uniqueName('images');
        const { app, worker } = setup({ queues: [images] }, { taskRoutes: { 'spec.images.*': { queue: images } } });
        const resize = app.task('spec.images.resize', function (this: TaskContext, w: number) {
          return `${this.queue}:${w}`;
        });
        await worker.start();
        assert.equal(await (await resize.delay(64)).get({ timeout: '10s' }), `${images}:64`);
        const other = app.worker({ concurrency: 1 });
        cleanups.push(() => other.stop());
        await other.start();
        assert.equal(
          await (await resize.applyAsync([8], {}, { queue: app.config.defaultQueue })).get({ timeout: '10s' }),
          `${app.config.defaultQueue}:8`,
        );
      });

      it('routes through a topic exchange to a bound queue, and delays work there too', async () => {
        const queue = uniqueName('reports');
        const exchange = uniqueName('events');
        const { app, worker } = setup(
          { queues: [queue] },
          {
            taskRoutes: [
              (task) =>
                task.startsWith('spec.reports.') ? { exchange, exchangeType: 'topic', routingKey: 'reports.daily', queue } : undefined,
            ],
          },
        );
        const report = app.task('spec.reports.daily', function (this: TaskContext) {
          return this.queue;
        });
        await worker.start();
        assert.equal(await (await report.delay()).get({ timeout: '10s' }), queue);
        assert.equal(await (await report.applyAsync([], {}, { countdown: 300 })).get({ timeout: '10s' }), queue);
      });
    });
  });
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
