import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { listDeadLetters, requeueDeadLetters, type App, type AppOptions, type TaskContext, type Worker } from '../../lib/index.js';
import type { Delivery } from '../../lib/broker/transport.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { uniqueName } from '../support/apps.js';

/**
 * Quorum queues (type, broker delivery count, delivery limit) and the dead-letter queue's list and
 * re-queue, the same on every broker: run on memory:// in spec/unit and on RabbitMQ 3.10 + Redis
 * in spec/integration. `makeApp` returns an app with its own default queue.
 */
export function describeQueueTypesAndDeadLetters(name: string, makeApp: (options?: AppOptions) => App): void {
  describe(`quorum queues and dead letters (${name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    function track(app: App, worker?: Worker): void {
      cleanups.push(async () => {
        await worker?.stop();
        await app.close();
      });
    }

    /** Takes the next message of `queue` with basic.get and returns it, `times` times: each return counts on a quorum queue. */
    async function bounce(app: App, queue: string, times: number): Promise<void> {
      for (let i = 0; i < times; i++) {
        const delivery = await waitForGet(app, queue);
        assert.equal(delivery.deliveryCount, i, 'the broker counts earlier deliveries');
        delivery.reject(true);
      }
    }

    it('a worker runs tasks from a quorum queue; a call priority is accepted (and ignored)', async () => {
      const queue = uniqueName('quorum');
      const app = makeApp({ queues: { [queue]: { type: 'quorum' } } });
      const worker = app.worker({ queues: [queue], concurrency: 2 });
      track(app, worker);
      const add = app.task('spec.quorum.add', (x: number, y: number) => x + y, { queue });
      await worker.start();
      const results = await Promise.all([add.delay(1, 2), add.applyAsync([3, 4], {}, { priority: 9 })]);
      assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: '10s' }))), [3, 7]);
    });

    it("the poison-message limit uses the broker's x-delivery-count on a quorum queue, without a result backend", async () => {
      const [over, within] = [uniqueName('quorum-over'), uniqueName('quorum-within')];
      const app = makeApp({ backend: null, queues: { [over]: { type: 'quorum' }, [within]: { type: 'quorum' } } });
      const runs: string[] = [];
      const work = app.task('spec.quorum.work', function (this: TaskContext) {
        runs.push(this.queue);
      });
      const worker = app.worker({ queues: [over, within], concurrency: 1, maxRedeliveries: 2 });
      track(app, worker);
      const poison = await work.applyAsync([], {}, { queue: over });
      await bounce(app, over, 3); // x-delivery-count 3 at the worker: past the limit of 2
      await work.applyAsync([], {}, { queue: within });
      await bounce(app, within, 2); // x-delivery-count 2: within it
      const dead: [Delivery, string, string][] = [];
      worker.on('dead-lettered', (delivery, reason, error) => dead.push([delivery, reason, error]));
      await worker.start();
      await waitUntil(() => runs.length === 1 && dead.length === 1, 'one run and one dead letter');
      const [delivery, reason, error] = dead[0];
      assert.equal(delivery.properties.correlationId, poison.id);
      assert.equal(reason, 'redelivery-limit');
      assert.match(error, /delivered 4 times \(delivery count 3, limit 2\)/);
      assert.deepEqual(runs, [within], 'the message within the limit ran; the other did not');
      const [entry] = (await listDeadLetters(app.transport, over)).entries;
      assert.equal(entry.id, poison.id);
      assert.equal(entry.reason, 'redelivery-limit');
    });

    it('on a classic queue an x-delivery-count header sent by anyone is not trusted', async () => {
      const app = makeApp({ backend: null });
      const ran: string[] = [];
      app.task('spec.classic.forged', function (this: TaskContext) {
        ran.push(this.id);
      });
      const worker = app.worker({ concurrency: 1, maxRedeliveries: 0 });
      track(app, worker);
      await worker.start();
      const message = app.producer.build('spec.classic.forged', [], {}, {});
      const outgoing = encodeTaskMessage(message, 'json');
      outgoing.headers['x-delivery-count'] = 99;
      await app.transport.publish(outgoing, { exchange: '', routingKey: app.config.defaultQueue });
      await waitUntil(() => ran.length === 1, 'the task ran');
      assert.deepEqual(ran, [message.headers.id]);
    });

    it(
      'a delivery limit dead-letters into <queue>.dead-letter at the broker; ' + 'list shows it, requeue brings it back with a fresh count',
      async () => {
        const queue = uniqueName('quorum-limit');
        const app = makeApp({ queues: { [queue]: { type: 'quorum', deliveryLimit: 1 } } });
        const runs: number[] = [];
        const work = app.task(
          'spec.quorum.limited',
          (n: number) => {
            runs.push(n);
            return n * 2;
          },
          { queue },
        );
        track(app);
        const result = await work.delay(21); // the producer declares the queue and its dead-letter queue
        await bounce(app, queue, 2); // returned twice: past the limit of 1
        await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 1, 'the broker dead-lettered it');
        const [entry] = (await listDeadLetters(app.transport, queue)).entries;
        assert.equal(entry.id, result.id);
        assert.equal(entry.task, 'spec.quorum.limited');
        assert.equal(entry.reason, 'delivery_limit');
        assert.equal(entry.queue, queue);
        assert.ok(entry.at !== null && Math.abs(Date.parse(entry.at) - Date.now()) < 60_000, `the broker's time of death: ${entry.at}`);
        const report = await requeueDeadLetters(app, queue, { ids: [result.id] });
        assert.deepEqual(
          report.requeued.map((e) => e.id),
          [result.id],
        );
        const back = await waitForGet(app, queue);
        assert.equal(back.deliveryCount, 0, 'a fresh count');
        assert.equal(back.deadLetter, undefined, "the broker's death trace is gone");
        back.reject(true);
        const worker = app.worker({ queues: [queue], concurrency: 1 });
        track(app, worker);
        await worker.start();
        assert.equal(await result.get({ timeout: '10s' }), 42);
        assert.deepEqual(runs, [21]);
      },
    );

    it(
      'dead-letter list leaves messages in place and in order; ' + 'requeue by id sends one back clean, with its redelivery count reset',
      async () => {
        const app = makeApp();
        const queue = app.config.defaultQueue;
        const worker = app.worker({ concurrency: 2 });
        track(app, worker);
        await worker.start();
        await app.transport.declareQueue({ name: `${queue}.dead-letter`, durable: true }); // as the worker will, to count it meanwhile
        const sent = [];
        for (let i = 0; i < 3; i++) sent.push(await app.sendTask('spec.dl.later', [i]));
        await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 3, 'three dead letters');
        for (let pass = 0; pass < 2; pass++) {
          // basic.reject has no reply: what the previous listing read is back a moment after it returned.
          await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 3, 'the listed messages back');
          const listing = await listDeadLetters(app.transport, queue, { limit: 2 });
          assert.equal(listing.total, 3);
          assert.deepEqual(
            listing.entries.map((e) => e.id),
            sent.slice(0, 2).map((r) => r.id),
            'the first two, oldest first, on every pass',
          );
          const entry = listing.entries[0];
          assert.equal(entry.task, 'spec.dl.later');
          assert.equal(entry.reason, 'unknown-task');
          assert.match(entry.error!, /spec\.dl\.later" is not registered/);
          assert.equal(entry.queue, queue);
          assert.ok(Date.parse(entry.at!) > Date.now() - 60_000);
        }
        await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 3, 'listing removed nothing');
        const ran: number[] = [];
        app.task('spec.dl.later', (n: number) => {
          ran.push(n);
          return n;
        });
        await app.backend.countRedeliveredStarts!(sent[1].id, 11);
        const report = await requeueDeadLetters(app, queue, { ids: [sent[1].id, 'no-such-id'] });
        assert.deepEqual(
          report.requeued.map((e) => e.id),
          [sent[1].id],
        );
        assert.deepEqual(report.missing, ['no-such-id']);
        assert.equal(await sent[1].get({ timeout: '10s' }), 1);
        assert.equal(await app.backend.countRedeliveredStarts!(sent[1].id, 0), 0, 'the poison count starts again');
        const rest = await listDeadLetters(app.transport, queue);
        assert.deepEqual(
          rest.entries.map((e) => e.id),
          [sent[0].id, sent[2].id],
        );
        await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 2, 'the listed messages back');
        const all = await requeueDeadLetters(app, queue, { all: true });
        assert.equal(all.requeued.length, 2);
        assert.deepEqual(await Promise.all([sent[0].get({ timeout: '10s' }), sent[2].get({ timeout: '10s' })]), [0, 2]);
        assert.deepEqual(
          ran.sort((a, b) => a - b),
          [0, 1, 2],
        );
        await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 0, 'the dead-letter queue empty');
      },
    );

    it('requeue leaves a message whose queue no longer exists in the dead-letter queue, and says why', async () => {
      const app = makeApp({ backend: null });
      track(app);
      const queue = app.config.defaultQueue;
      const gone = uniqueName('gone');
      const message = app.producer.build('spec.dl.gone', [], {}, {});
      const outgoing = encodeTaskMessage(message, 'json');
      outgoing.headers[DEAD_LETTER_HEADERS.queue] = gone;
      outgoing.headers[DEAD_LETTER_HEADERS.reason] = 'unknown-task';
      await app.transport.declareQueue({ name: `${queue}.dead-letter`, durable: true });
      await app.transport.publish(outgoing, { exchange: '', routingKey: `${queue}.dead-letter` });
      const report = await requeueDeadLetters(app, queue, { all: true });
      assert.equal(report.requeued.length, 0);
      assert.equal(report.failed.length, 1);
      assert.equal(report.failed[0].entry.queue, gone);
      assert.match(report.failed[0].error, /unroutable/);
      await waitUntil(
        async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 1,
        'the message back in the dead-letter queue',
      );
    });
  });
}

async function waitForGet(app: App, queue: string, timeoutMs = 10_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const delivery = await app.transport.get(queue);
    if (delivery) return delivery;
    if (Date.now() > deadline) throw new Error(`no message in ${queue} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
