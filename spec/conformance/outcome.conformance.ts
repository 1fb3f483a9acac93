import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { BackendError, TaskFailedError, type App, type TaskContext, type Worker, type WorkerOptions } from '../../lib/index.js';
import type { SignatureDict } from '../../lib/protocol/task-message.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { gate, removeAppQueues, takeMessages } from '../support/apps.js';

/**
 * What a worker does with a task whose outcome cannot be passed on, and with suspects, the same
 * on every broker/backend pair (memory:// in spec/unit/outcome.test.ts, RabbitMQ + Redis in
 * spec/integration/outcome.test.ts): the body runs at most once — never, when the embed could
 * never be sent — and the message ends in the dead-letter queue with its true reason; a suspect
 * runs beside healthy work, never beside another suspect.
 */
export function describeOutcomeBehaviour(name: string, makeApp: () => App): void {
  describe(`worker: outcomes that cannot be passed on (${name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    /** An app whose `spec.out.count` counts its runs per task id, and a worker (not started). */
    function setup(options: WorkerOptions = {}): { app: App; worker: Worker; queue: string; runs: Map<string, number> } {
      const app = makeApp();
      const worker = app.worker({ concurrency: 2, shutdownTimeout: '5s', resultStoreRetryDelays: ['10ms'], ...options });
      const runs = new Map<string, number>();
      app.task('spec.out.count', function (this: TaskContext, ...args: unknown[]) {
        runs.set(this.id, (runs.get(this.id) ?? 0) + 1);
        return args.length;
      });
      cleanups.push(async () => {
        await worker.stop();
        await removeAppQueues(app);
        await app.close();
      });
      return { app, worker, queue: app.config.defaultQueue, runs };
    }

    const signature = (options: Record<string, unknown> = {}, extra: Partial<SignatureDict> = {}): SignatureDict => ({
      task: 'spec.out.count',
      args: [],
      kwargs: {},
      options: { task_id: randomUUID(), ...options },
      subtask_type: null,
      immutable: true,
      ...extra,
    });

    it('dead-letters a message whose embed could never be sent (reason embed) without running its task', async () => {
      const { app, worker, queue, runs } = setup();
      await worker.start();
      const cases: [string, Record<string, unknown>][] = [
        ['a callback with priority "high"', { callbacks: [signature({ priority: 'high' })] }],
        ['a callback with eta "garbage"', { callbacks: [signature({ eta: 'garbage' })] }],
        ['a callback with serializer "pickle"', { callbacks: [signature({ serializer: 'pickle' })] }],
        [
          'a chord without header as a callback',
          { callbacks: [signature({}, { task: 'celery.chord', subtask_type: 'chord', kwargs: { body: signature() } })] },
        ],
        [
          'a chain step whose tasks are not a list',
          { chain: [signature({}, { task: 'celery.chain', subtask_type: 'chain', kwargs: { tasks: 'spec.out.count' } })] },
        ],
        ['an errback whose args are not a list', { errbacks: [signature({}, { args: 'x' as unknown as unknown[] })] }],
      ];
      const sent = new Map<string, string>();
      for (const [what, embed] of cases) {
        const result = await app.sendTask('spec.out.count', [what], {}, {}, embed);
        sent.set(result.id, what);
      }
      // A link nested 10,000 deep: written as JSON text (no encoder recurses that deep).
      const deepId = randomUUID();
      const link = (inner: string): string =>
        `{"task":"spec.out.count","args":[],"kwargs":{},"options":{"link":[${inner}]},"subtask_type":null,"immutable":true}`;
      let deep = link('');
      for (let i = 0; i < 10_000; i++) deep = link(deep);
      const headers = { lang: 'py', task: 'spec.out.count', id: deepId, retries: 0, timelimit: [null, null], root_id: deepId };
      const body = Buffer.from(`[[], {}, {"callbacks": [${deep}], "errbacks": null, "chain": null, "chord": null}]`);
      await app.transport.publish(
        { body, contentType: 'application/json', contentEncoding: 'utf-8', headers, correlationId: deepId },
        { exchange: '', routingKey: queue },
      );
      sent.set(deepId, 'a link nested 10,000 deep');
      const dead = await takeMessages(app.transport, `${queue}.dead-letter`, sent.size, 30_000);
      for (const message of dead) {
        const what = sent.get(message.properties.correlationId ?? '');
        assert.ok(what, 'a message of this spec');
        assert.equal(message.properties.headers[DEAD_LETTER_HEADERS.reason], 'embed', what);
        assert.match(
          String(message.properties.headers[DEAD_LETTER_HEADERS.error]),
          /embedded workflow can never be sent: (callbacks|chain|errbacks)\[0\]/,
          what,
        );
      }
      assert.equal(new Set(dead.map((d) => d.properties.correlationId)).size, sent.size);
      for (const [id, what] of sent) assert.equal(runs.get(id) ?? 0, 0, `${what}: the task did not run`);
    });

    for (const ignoreResult of [false, true]) {
      it(
        'a callback to an exchange that does not exist: the task runs once, the callback is recorded FAILURE,' +
          ` the message is dead-lettered (workflow)${ignoreResult ? ' — results ignored' : ''}`,
        async () => {
          const { app, worker, queue, runs } = setup();
          await worker.start();
          const callback = signature({ exchange: `spec.no-such-exchange.${randomUUID()}` });
          const good = signature();
          const result = await app.sendTask('spec.out.count', [1, 2], {}, { ignoreResult }, { callbacks: [callback, good] });
          const [dead] = await takeMessages(app.transport, `${queue}.dead-letter`, 1, 30_000);
          assert.equal(dead.properties.correlationId, result.id);
          assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'workflow');
          assert.match(
            String(dead.properties.headers[DEAD_LETTER_HEADERS.error]),
            /callback spec\.out\.count\[[0-9a-f-]+\] of spec\.out\.count\[[0-9a-f-]+\] cannot be sent: PublishError: .*no-such-exchange/,
          );
          if (!ignoreResult) assert.equal(await result.get({ timeout: '10s' }), 2, "the task's own result stands");
          const failed = await app
            .asyncResult(callback.options.task_id as string)
            .get({ timeout: '10s' })
            .then(
              () => null,
              (e: unknown) => e,
            );
          assert.ok(failed instanceof TaskFailedError, 'the callback is recorded FAILURE');
          assert.equal(failed.excType, 'UnsendableError');
          assert.equal(await app.asyncResult(good.options.task_id as string).get({ timeout: '10s' }), 0, 'the sendable callback was sent');
          assert.equal(runs.get(result.id), 1, 'the task ran once');
        },
      );
    }

    it('a chord body that cannot be sent is recorded FAILURE with ChordError (as Celery does); the header task runs once', async () => {
      const { app, worker, queue, runs } = setup();
      await worker.start();
      const groupId = randomUUID();
      const body = signature({ exchange: `spec.no-such-exchange.${groupId}`, chord_size: 1 }, { immutable: false });
      await app.backend.setChordSize(groupId, 1);
      const header = await app.sendTask('spec.out.count', [7], {}, {}, { group: groupId, groupIndex: 0, chord: body });
      const [dead] = await takeMessages(app.transport, `${queue}.dead-letter`, 1, 30_000);
      assert.equal(dead.properties.correlationId, header.id);
      assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'workflow');
      assert.match(
        String(dead.properties.headers[DEAD_LETTER_HEADERS.error]),
        /chord body spec\.out\.count\[[0-9a-f-]+\] .* cannot be sent/,
      );
      assert.equal(await header.get({ timeout: '10s' }), 1);
      const failed = await app
        .asyncResult(body.options.task_id as string)
        .get({ timeout: '10s' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(failed instanceof TaskFailedError);
      assert.equal(failed.excType, 'ChordError');
      assert.match(failed.excMessage, /^Callback error: PublishError: /);
      assert.equal(runs.get(header.id), 1);
    });

    /** Runs one task whose outcome the backend refuses with `error`; its dead letter, and how often it ran. */
    async function storeRefusedWith(
      error: Error,
    ): Promise<{ dead: Awaited<ReturnType<typeof takeMessages>>[number]; runs: number | undefined; id: string }> {
      const { app, worker, queue, runs } = setup();
      const id = randomUUID();
      const backend = app.backend;
      const store = backend.storeResult.bind(backend);
      backend.storeResult = async (meta, context) => {
        if (meta.task_id === id) throw error;
        return store(meta, context);
      };
      await worker.start();
      await app.sendTask('spec.out.count', [], {}, { taskId: id });
      const [dead] = await takeMessages(app.transport, `${queue}.dead-letter`, 1, 30_000);
      return { dead: dead, runs: runs.get(id), id };
    }

    it('a result backend that refuses the outcome for good: one run, the message dead-lettered (result-store)', async () => {
      const { dead, runs, id } = await storeRefusedWith(
        Object.assign(new BackendError('spec://', 'store failed: WRONGTYPE Operation against a key holding the wrong kind of value'), {
          permanent: true,
        }),
      );
      assert.equal(dead.properties.correlationId, id);
      assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'result-store');
      assert.match(
        String(dead.properties.headers[DEAD_LETTER_HEADERS.error]),
        /outcome SUCCESS of spec\.out\.count\[.*\] cannot be stored: .*WRONGTYPE/,
      );
      assert.equal(runs, 1);
    });

    it('a backend that fails with a bug (TypeError), not an outage: one run, the message dead-lettered (result-store)', async () => {
      const { dead, runs, id } = await storeRefusedWith(new TypeError("Cannot read properties of undefined (reading 'set')"));
      assert.equal(dead.properties.correlationId, id);
      assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'result-store');
      assert.match(String(dead.properties.headers[DEAD_LETTER_HEADERS.error]), /cannot be stored: Cannot read properties/);
      assert.equal(runs, 1);
    });

    it('a retry that can never be published (headers the client cannot encode): one run, FAILURE, dead-lettered (retry)', async () => {
      const { app, worker, queue } = setup();
      const id = randomUUID();
      let retryRuns = 0;
      app.task('spec.out.retry', function (this: TaskContext) {
        retryRuns += 1;
        this.retry({ countdown: 0, exc: new Error('once more') });
      });
      const transport = app.transport;
      const publish = transport.publish.bind(transport);
      transport.publish = async (message, target) => {
        if (message.headers?.id === id && message.headers.retries === 1)
          throw new RangeError('Encoded field table (headers or arguments) exceeds the 65536 byte encoding buffer');
        return publish(message, target);
      };
      await worker.start();
      const result = await app.sendTask('spec.out.retry', [], {}, { taskId: id });
      const [dead] = await takeMessages(app.transport, `${queue}.dead-letter`, 1, 30_000);
      assert.equal(dead.properties.correlationId, id);
      assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'retry');
      assert.match(String(dead.properties.headers[DEAD_LETTER_HEADERS.error]), /its retry cannot be sent: Encoded field table/);
      const failed = await result.get({ timeout: '10s' }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(failed instanceof TaskFailedError);
      assert.match(failed.excMessage, /once more/);
      assert.equal(retryRuns, 1);
    });

    it('a suspect runs beside a long task, healthy tasks keep their slots, and no two suspects run together', async () => {
      const { app, worker, queue } = setup({ concurrency: 3 });
      const gates = new Map([
        ['long', gate()],
        ['s1', gate()],
        ['s2', gate()],
      ]);
      const started = new Set<string>();
      const hold = app.task('spec.out.hold', async (what: string) => {
        started.add(what);
        await gates.get(what)?.promise;
        return what;
      });
      await worker.start();
      const longRun = await hold.delay('long');
      await waitUntil(() => started.has('long'), 'the long task started');
      // Two suspects: redelivered messages whose tasks already started on redelivered ones before.
      await worker.cancelConsumer(queue);
      const ids = new Map([
        ['s1', randomUUID()],
        ['s2', randomUUID()],
      ]);
      for (const [what, id] of ids) {
        await app.backend.countRedeliveredStarts!(id, 1);
        await hold.applyAsync([what], {}, { taskId: id });
      }
      const held = [];
      for (let i = 0; i < ids.size; i++) held.push(await waitFor(() => app.transport.get(queue), 'a suspect message'));
      for (const delivery of held.reverse()) delivery.reject(true); // back to the queue, flagged redelivered
      await worker.addConsumer(queue);
      await waitUntil(() => started.has('s1') || started.has('s2'), 'a suspect started beside the long task');
      const healthy = await hold.delay('healthy');
      assert.equal(await healthy.get({ timeout: '10s' }), 'healthy', 'a healthy task ran beside the long task and the suspect');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const first = started.has('s1') ? 's1' : 's2';
      const second = first === 's1' ? 's2' : 's1';
      assert.equal(started.has(second), false, 'the other suspect waits for the suspect slot, though a concurrency slot is free');
      gates.get(first)!.open();
      assert.equal(await app.asyncResult(ids.get(first)!).get({ timeout: '10s' }), first);
      await waitUntil(() => started.has(second), 'the second suspect started once the first finished');
      gates.get(second)!.open();
      assert.equal(await app.asyncResult(ids.get(second)!).get({ timeout: '10s' }), second);
      assert.equal(worker.active, 1, 'only the long task still runs');
      gates.get('long')!.open();
      assert.equal(await longRun.get({ timeout: '10s' }), 'long');
    });
  });
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => (condition() ? true : null), what, timeoutMs);
}

async function waitFor<T>(probe: () => Promise<T | null>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
