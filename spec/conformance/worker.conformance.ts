import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  BackendError,
  currentTask,
  PublishError,
  TaskFailedError,
  type App,
  type TaskContext,
  type Worker,
  type WorkerOptions,
} from '../../lib/index.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { gate, removeAppQueues, takeMessages } from '../support/apps.js';

/**
 * The worker's behaviour, the same on every broker/backend pair: run against memory:// in
 * spec/unit and against RabbitMQ + Redis in spec/integration. `makeApp` returns an app with
 * its own queue (and broker state) each call.
 */
export function describeWorkerBehaviour(name: string, makeApp: () => App): void {
  describe(`worker behaviour (${name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /** An app with the walkthrough tasks and a running worker, torn down after the suite. */
    async function setup(options: WorkerOptions = {}): Promise<{ app: App; worker: Worker; queue: string }> {
      const app = makeApp();
      const worker = app.worker({ concurrency: 2, shutdownTimeout: '5s', resultStoreRetryDelays: ['10ms'], ...options });
      cleanups.push(async () => {
        await worker.stop();
        await removeAppQueues(app);
        await app.close();
      });
      return { app, worker, queue: app.config.defaultQueue };
    }

    it('runs a task and stores its result', async () => {
      const { app, worker } = await setup();
      const add = app.task('spec.add', (x: number, y: number) => x + y);
      await worker.start();
      const result = await add.delay(2, 3);
      assert.equal(await result.get({ timeout: '10s' }), 5);
      assert.equal(await result.state, 'SUCCESS');
      assert.equal(await result.ready(), true);
      assert.equal(await result.successful(), true);
    });

    it('delay(...).get() waits for the result while the send is confirmed, and rejects with a failed send', async () => {
      const { app, worker } = await setup();
      const add = app.task('spec.add_sent', (x: number, y: number) => x + y);
      await worker.start();
      const sent = add.delay(20, 22);
      assert.match(sent.id, /^[0-9a-f-]{36}$/);
      assert.equal(await sent.get({ timeout: '10s' }), 42);
      assert.equal((await sent).id, sent.id);
      // An exchange nobody declared: the send fails, and get() with it (not by its timeout).
      const unsent = add.applyAsync([1, 2], {}, { exchange: `spec.missing.${sent.id}`, routingKey: 'nowhere' });
      await assert.rejects(unsent.get({ timeout: '1h' }), (error: unknown) => error instanceof PublishError);
      await assert.rejects(Promise.resolve(unsent), (error: unknown) => error instanceof PublishError);
    });

    it('records a thrown error as FAILURE with type, message and stack, and keeps going', async () => {
      const { app, worker } = await setup();
      const boom = app.task('spec.boom', (what: string) => {
        throw new RangeError(`bad ${what}`);
      });
      const ok = app.task('spec.ok', () => 'still here');
      await worker.start();
      const failed = await boom.delay('input');
      const error = await failed.get({ timeout: '10s' }).then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TaskFailedError);
      assert.equal(error.state, 'FAILURE');
      assert.equal(error.excType, 'RangeError');
      assert.equal(error.excMessage, 'bad input');
      assert.match(error.traceback ?? '', /RangeError: bad input\n\s+at /);
      assert.equal(await failed.state, 'FAILURE');
      assert.equal(await (await ok.delay()).get({ timeout: '10s' }), 'still here');
    });

    it('never runs more than `concurrency` tasks at once', async () => {
      const { app, worker } = await setup({ concurrency: 3 });
      let running = 0;
      let peak = 0;
      const release = gate();
      const slow = app.task('spec.slow', async (i: number) => {
        running += 1;
        peak = Math.max(peak, running);
        await release.promise;
        running -= 1;
        return i;
      });
      await worker.start();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => slow.delay(i)));
      await waitUntil(() => running === 3, 'three tasks running');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(running, 3);
      release.open();
      assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: '10s' }))), [...Array(10).keys()]);
      assert.equal(peak, 3);
    });

    it('gives the task its context as `this` and through currentTask()', async () => {
      const { app, worker } = await setup({ hostname: 'spec@%h' });
      const introspect = app.task('spec.context', function (this: TaskContext, n: number) {
        const inner = currentTask();
        const logger = this.logger;
        logger.debug('context spec');
        return {
          id: this.id,
          name: this.name,
          args: this.args,
          kwargs: this.kwargs,
          retries: this.retries,
          hostname: this.hostname,
          rootId: this.rootId,
          parentId: this.parentId,
          groupId: this.groupId,
          redelivered: this.redelivered,
          same: inner?.id === this.id,
          aborted: this.signal.aborted,
          sameSignal: this.signal === this.signal,
          sameLogger: logger === this.logger,
          n,
        };
      });
      await worker.start();
      const result = await introspect.delay(7);
      const value = await result.get({ timeout: '10s' });
      assert.deepEqual(value, {
        id: result.id,
        name: 'spec.context',
        args: [7],
        kwargs: {},
        retries: 0,
        hostname: worker.hostname,
        rootId: result.id,
        parentId: null,
        groupId: null,
        redelivered: false,
        same: true,
        aborted: false,
        sameSignal: true,
        sameLogger: true,
        n: 7,
      });
      assert.match(worker.hostname, /^spec@/);
    });

    it('places keyword arguments by argNames, and fails clearly without them', async () => {
      const { app, worker } = await setup();
      const named = app.task('spec.named', (x: number, y: number) => x - y, { argNames: ['x', 'y'] });
      const unnamed = app.task('spec.unnamed', (x: number, y: number) => x - y);
      await worker.start();
      assert.equal(await (await named.applyAsync([10], { y: 3 })).get({ timeout: '10s' }), 7);
      assert.equal(await (await named.applyAsync([], { y: 1, x: 5 })).get({ timeout: '10s' }), 4);
      await assert.rejects(
        (await unnamed.applyAsync([10], { y: 3 })).get({ timeout: '10s' }),
        /TypeError: task spec.unnamed got keyword arguments \(y\) but declares no argNames/,
      );
      await assert.rejects((await named.applyAsync([10], { z: 3 })).get({ timeout: '10s' }), /unexpected keyword argument 'z'/);
    });

    it('records a result that cannot be serialized as FAILURE with a clear message', async () => {
      const { app, worker } = await setup();
      const bad = app.task('spec.unserializable', () => ({ callback: () => 1 }));
      await worker.start();
      await assert.rejects((await bad.delay()).get({ timeout: '10s' }), (e: unknown) => {
        assert.ok(e instanceof TaskFailedError);
        assert.equal(e.excType, 'SerializationError');
        assert.match(e.excMessage, /result of task spec.unserializable cannot be serialized/);
        return true;
      });
    });

    it('does not run a task that expired while it waited, and records it REVOKED', async () => {
      const { app, worker } = await setup({ concurrency: 1 });
      const release = gate();
      const blocker = app.task('spec.blocker', () => release.promise);
      let ran = false;
      const late = app.task('spec.late', () => {
        ran = true;
      });
      await worker.start();
      const blocking = await blocker.delay();
      // Delivered to the worker at once (prefetch), but it cannot start before the blocker ends.
      const result = await late.applyAsync([], {}, { expires: 300 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      release.open();
      await blocking.get({ timeout: '10s' });
      await assert.rejects(
        result.get({ timeout: '10s' }),
        (e: unknown) => e instanceof TaskFailedError && e.state === 'REVOKED' && /REVOKED/.test(e.message),
      );
      assert.equal(ran, false);
    });

    it('does not start a task before its countdown', async () => {
      const { app, worker } = await setup();
      const stamp = app.task('spec.stamp', () => Date.now());
      await worker.start();
      const sent = Date.now();
      const result = await stamp.applyAsync([], {}, { countdown: 300 });
      const started = await result.get({ timeout: '10s' });
      assert.ok(started - sent >= 300, `started ${started - sent} ms after sending`);
    });

    it('stores nothing for ignoreResult, and forget() removes a stored result', async () => {
      const { app, worker } = await setup();
      let runs = 0;
      const count = app.task('spec.count', () => ++runs);
      await worker.start();
      const ignored = await count.applyAsync([], {}, { ignoreResult: true });
      const kept = await count.delay();
      assert.equal(await kept.get({ timeout: '10s' }), 2);
      assert.equal(runs, 2);
      assert.equal(await ignored.state, 'PENDING');
      await kept.forget();
      assert.equal(await kept.state, 'PENDING');
    });

    for (const [reason, publish, what] of badMessages()) {
      it(`dead-letters ${what ?? reason} with the reason in its headers and keeps working`, async () => {
        const { app, worker, queue } = await setup({ maxMessageSize: 64 * 1024 });
        const ok = app.task('spec.after-bad', () => 'fine');
        await worker.start();
        await publish(app, queue);
        const [dead] = await takeMessages(app.transport, `${queue}.dead-letter`, 1);
        assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], reason);
        assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.queue], queue);
        assert.ok(String(dead.properties.headers[DEAD_LETTER_HEADERS.error]).length > 0);
        assert.equal(await (await ok.delay()).get({ timeout: '10s' }), 'fine');
      });
    }

    it('requeues the message when the outcome cannot be stored, instead of acking it', async () => {
      const { app, worker, queue } = await setup();
      const task = app.task('spec.unstorable', () => 1);
      const backend = app.backend;
      const original = backend.storeResult.bind(backend);
      let attempts = 0;
      backend.storeResult = async () => {
        attempts += 1;
        // An outage as a backend reports one (an error that is not BackendError is not one).
        throw new BackendError('spec://', 'backend down');
      };
      await worker.start();
      await task.delay();
      await waitUntil(() => attempts >= 2, 'two store attempts');
      await worker.stop();
      backend.storeResult = original;
      await waitUntil(async () => (await app.transport.messageCount(queue)) === 1, 'the message back in its queue');
    });

    it('on stop, lets running tasks finish and requeues messages not yet started', async () => {
      const { app, worker, queue } = await setup({ concurrency: 1 });
      const release = gate();
      const started: number[] = [];
      const hold = app.task('spec.hold', async (i: number) => {
        started.push(i);
        await release.promise;
        return i;
      });
      await worker.start();
      const first = await hold.delay(1);
      await hold.delay(2);
      await hold.delay(3);
      await waitUntil(() => started.length === 1, 'the first task started');
      const stopping = worker.stop();
      release.open();
      await stopping;
      assert.equal(await first.get({ timeout: '10s' }), 1);
      assert.deepEqual(started, [1]);
      await waitUntil(async () => (await app.transport.messageCount(queue)) === 2, 'two messages back in the queue');
    });
  });
}

type Publisher = (app: App, queue: string) => Promise<void>;

/** [reason expected in the dead-letter headers, how to publish it, what it is (default: the reason)]. */
function badMessages(): [string, Publisher, string?][] {
  const headers = (task: string, extra: Record<string, unknown> = {}) => ({
    lang: 'py',
    task,
    id: crypto.randomUUID(),
    retries: 0,
    timelimit: [null, null],
    ...extra,
  });
  const raw =
    (body: string | Buffer, contentType: string, task = 'spec.after-bad', extra: Record<string, unknown> = {}): Publisher =>
    async (app, queue) => {
      const h = headers(task, extra);
      await app.transport.publish(
        { body: Buffer.isBuffer(body) ? body : Buffer.from(body), contentType, contentEncoding: 'utf-8', headers: h, correlationId: h.id },
        { exchange: '', routingKey: queue },
      );
    };
  return [
    ['unknown-task', (app) => app.sendTask('spec.no-such-task', [1]).then(() => undefined)],
    ['decode', raw('[[1, 2], {', 'application/json')],
    [
      'decode',
      raw(Buffer.from([0x5b, 0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d, 0x2c, 0x7b, 0x7d, 0x2c, 0x7b, 0x7d, 0x5d]), 'application/json'),
      'JSON that is not valid UTF-8',
    ],
    ['decode', raw(Buffer.from([0x93, 0xc1, 0xc1]), 'application/x-msgpack'), 'malformed msgpack'],
    ['content-type', raw('gASVAAAAAAAAAAA=', 'application/x-python-serialize')],
    ['content-type', raw('[[], {}, {}]', ''), 'a message without a content type'],
    ['body-shape', raw('{"args": [1, 2]}', 'application/json')],
    ['body-shape', raw('[[], {}, {"chain": [{"args": []}]}]', 'application/json'), 'an embed whose signature names no task'],
    ['headers', raw('[[], {}, {}]', 'application/json', '')],
    ['headers', raw('[[], {}, {}]', 'application/json', 'spec.after-bad', { retries: 'many' }), 'a header of the wrong type'],
    ['too-large', raw(`[["${'x'.repeat(70 * 1024)}"], {}, {}]`, 'application/json'), 'a body over maxMessageSize'],
  ];
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
