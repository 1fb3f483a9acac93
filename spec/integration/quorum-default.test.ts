import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  chord,
  GroupResult,
  listDeadLetters,
  requeueDeadLetters,
  TransportError,
  type App,
  type TaskContext,
  type Worker,
} from '../../lib/index.js';
import { gate, realApp, uniqueName } from '../support/apps.js';
import { brokerQueues, deleteQueues, withRawChannel } from '../support/rabbitmq-queues.js';

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `defaultQueueType: 'quorum'` on RabbitMQ 3.10: what the broker ends up holding (read back with
 * rabbitmqctl, not through celeriac), and that tasks, retries through the delay tiers,
 * dead-lettering and rpc:// chords work on it. Every test has queues of its own; the quorum delay
 * tiers are shared by every quorum app of the vhost, as the classic ones are.
 */
describe('defaultQueueType quorum (amqp:// + redis://)', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  function track(app: App, worker?: Worker, queues: string[] = []): void {
    cleanups.push(async () => {
      await worker?.stop();
      await app.close();
      await deleteQueues(queues);
    });
  }

  it('task queue, dead-letter queue and delay tiers are quorum; tasks, countdown retries and dead letters work', async () => {
    const app = realApp({ defaultQueueType: 'quorum' });
    const queue = app.config.defaultQueue;
    const deadLetters = `${queue}.dead-letter`;
    const worker = app.worker({ concurrency: 2 });
    track(app, worker, [queue, deadLetters]);
    const add = app.task('spec.quorum-default.add', (x: number, y: number) => x + y);
    const seen: number[] = [];
    const flaky = app.task('spec.quorum-default.flaky', function (this: TaskContext, x: number) {
      seen.push(this.retries);
      if (this.retries < 2) this.retry({ countdown: 300 });
      return x * 2;
    });
    await worker.start();

    assert.equal(await (await add.delay(2, 3)).get({ timeout: '20s' }), 5);
    assert.equal(await (await flaky.delay(21)).get({ timeout: '20s' }), 42);
    assert.deepEqual(seen, [0, 1, 2], 'retried twice through the quorum delay tiers');
    const later = await add.applyAsync([1, 1], {}, { countdown: 500 });
    assert.equal(await later.get({ timeout: '20s' }), 2);

    // A task no worker knows is dead-lettered into <queue>.dead-letter, declared quorum.
    const unknown = await app.sendTask('spec.quorum-default.nobody', []);
    await waitUntil(async () => (await listDeadLetters(app, queue)).total === 1, 'the dead letter');
    const [entry] = (await listDeadLetters(app, queue)).entries;
    assert.deepEqual([entry.id, entry.reason], [unknown.id, 'unknown-task']);
    app.task('spec.quorum-default.nobody', () => 'found');
    // The listing returned what it read with basic.reject, which a quorum queue applies a moment later.
    await waitUntil(async () => (await app.transport.messageCount(deadLetters)) === 1, 'the listed message back in its queue');
    const report = await requeueDeadLetters(app, queue, { ids: [unknown.id] });
    assert.deepEqual(
      report.requeued.map((e) => e.id),
      [unknown.id],
    );
    assert.equal(await unknown.get({ timeout: '20s' }), 'found');

    const tiers = ['celeriac.delayed.quorum.0.1', 'celeriac.delayed.quorum.2.5', 'celeriac.delayed.quorum.7.15'];
    const held = await brokerQueues([queue, deadLetters, ...tiers]);
    assert.deepEqual(
      [held.get(queue)?.type, held.get(queue)?.durable, held.get(queue)?.arguments],
      ['quorum', true, { 'x-queue-type': 'quorum' }],
      'the task queue: quorum, no other argument',
    );
    assert.deepEqual([held.get(deadLetters)?.type, held.get(deadLetters)?.arguments], ['quorum', { 'x-queue-type': 'quorum' }]);
    assert.deepEqual(held.get('celeriac.delayed.quorum.2.5')?.arguments, {
      'x-queue-type': 'quorum',
      'x-message-ttl': 5 * 16 ** 2,
      'x-dead-letter-exchange': 'celeriac.delayed.quorum.1',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.equal(held.get('celeriac.delayed.quorum.0.1')?.arguments['x-dead-letter-exchange'], 'celeriac.delayed.exit');
    for (const tier of tiers) assert.equal(held.get(tier)?.type, 'quorum', tier);
  });

  it("a queue's own type wins over the default; priorities stay with classic queues", async () => {
    const classic = uniqueName('quorum-default.classic');
    const app = realApp({ defaultQueueType: 'quorum', queues: { [classic]: { type: 'classic', maxPriority: 5 } } });
    const queue = app.config.defaultQueue;
    const worker = app.worker({ queues: [queue, classic], concurrency: 1 });
    track(app, worker, [queue, classic]);
    const where = app.task('spec.quorum-default.where', function (this: TaskContext) {
      return this.queue;
    });
    await worker.start();
    assert.equal(await (await where.applyAsync([], {}, { queue: classic, priority: 3 })).get({ timeout: '20s' }), classic);
    assert.equal(await (await where.delay()).get({ timeout: '20s' }), queue);
    const held = await brokerQueues([queue, classic]);
    assert.equal(held.get(queue)?.type, 'quorum');
    assert.deepEqual([held.get(classic)?.type, held.get(classic)?.arguments], ['classic', { 'x-max-priority': 5 }]);
  });

  it('a queue that exists with the other type: the error names the queue, both types and where to read how to migrate', async () => {
    const existing = uniqueName('quorum-default.exists');
    cleanups.push(() => deleteQueues([existing]));
    await withRawChannel((channel) => channel.assertQueue(existing, { durable: true }));
    const quorumApp = realApp({ defaultQueueType: 'quorum', defaultQueue: existing });
    track(quorumApp);
    const refusal = (asked: string, current: string) => (error: unknown) => {
      assert.ok(error instanceof TransportError, String(error));
      assert.equal(error.reason, 'precondition-failed');
      assert.match(error.message, new RegExp(`queue '${existing.replaceAll('.', '\\.')}' exists as a ${current} queue`));
      assert.match(error.message, new RegExp(`declared here as a ${asked} queue`));
      assert.match(error.message, /defaultQueueType/);
      assert.match(error.message, /Changing a queue's type/);
      return true;
    };
    await assert.rejects(quorumApp.worker({ concurrency: 1 }).start(), refusal('quorum', 'classic'), 'a worker');
    await assert.rejects(quorumApp.sendTask('spec.quorum-default.any', []), refusal('quorum', 'classic'), 'a producer');

    await deleteQueues([existing]);
    await withRawChannel((channel) => channel.assertQueue(existing, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    const classicApp = realApp({ defaultQueue: existing });
    track(classicApp);
    await assert.rejects(classicApp.sendTask('spec.quorum-default.any', []), refusal('classic', 'quorum'));
  });

  it('rpc://: chord counting queues are quorum, the reply queue stays classic (auto-delete); the chord completes', async () => {
    const app = realApp({ defaultQueueType: 'quorum', backend: 'rpc://' });
    const queue = app.config.defaultQueue;
    const worker = app.worker({ concurrency: 4 });
    track(app, worker, [queue]);
    const release = gate();
    const started: number[] = [];
    const part = app.task('spec.quorum-default.part', async (x: number) => {
      started.push(x);
      await release.promise;
      return x * 10;
    });
    const total = app.task('spec.quorum-default.total', (values: number[]) => values.reduce((a, b) => a + b, 0));
    await worker.start();
    const result = await chord([part.s(1), part.s(2), part.s(3)], total.s()).applyAsync();
    await waitUntil(() => started.length === 3, 'the header tasks started');
    const groupId = (result.parent as GroupResult).id;
    const chordQueues = [`celeriac.chord.${groupId}.parts`, `celeriac.chord.${groupId}.claim`];
    const held = await brokerQueues([...chordQueues, app.oid]);
    for (const name of chordQueues) assert.equal(held.get(name)?.type, 'quorum', name);
    const reply = held.get(app.oid);
    assert.deepEqual([reply?.type, reply?.durable, reply?.autoDelete], ['classic', false, true], 'the reply queue');
    release.open();
    assert.equal(await result.get({ timeout: '30s' }), 60);
  });
});
