import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import amqplib from 'amqplib';
import type { DeadLetterEntry } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, realApp, uniqueName } from '../support/apps.js';
import { runCli } from '../support/processes.js';

/** `celeriac dead-letter list|requeue` against RabbitMQ + Redis, and what a quorum queue is on the real broker. */
describe('celeriac dead-letter (RabbitMQ + Redis, CLI)', () => {
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('list --json shows dead letters and leaves them; requeue --id --force sends one back and it runs', async () => {
    const app = realApp();
    const queue = app.config.defaultQueue;
    const worker = app.worker({ concurrency: 1 });
    cleanups.push(async () => {
      await worker.stop();
      await app.close();
    });
    await worker.start();
    const first = await app.sendTask('spec.cli.missing', [1]);
    const second = await app.sendTask('spec.cli.missing', [2]);
    await app.transport.declareQueue({ name: `${queue}.dead-letter`, durable: true });
    await waitUntil(async () => (await app.transport.messageCount(`${queue}.dead-letter`)) === 2, 'two dead letters');

    const list = await runCli(['dead-letter', 'list', '-Q', queue, '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout) as DeadLetterEntry[];
    assert.deepEqual(
      entries.map((e) => [e.id, e.task, e.reason, e.queue]),
      [
        [first.id, 'spec.cli.missing', 'unknown-task', queue],
        [second.id, 'spec.cli.missing', 'unknown-task', queue],
      ],
    );
    const text = await runCli(['dead-letter', 'list', '-Q', queue, '--limit', '1'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${queue.replaceAll('.', '\\.')}\\.dead-letter: 2 message\\(s\\) \\(showing 1\\)`));
    assert.match(text.stdout, new RegExp(`spec\\.cli\\.missing\\[${first.id}\\]  reason=unknown-task`));
    assert.match(text.stdout, /is not registered on this worker/);

    const refused = await runCli(['dead-letter', 'requeue', '-Q', queue, '--all'], env);
    assert.equal(refused.code, 2, 'no --force and no terminal: refused');
    assert.match(refused.stderr, /pass --force/);

    app.task('spec.cli.missing', (n: number) => n * 10);
    const requeue = await runCli(['dead-letter', 'requeue', '-Q', queue, '--id', second.id, '--force'], env);
    assert.equal(requeue.code, 0, requeue.stderr);
    assert.match(requeue.stdout, new RegExp(`requeued spec\\.cli\\.missing\\[${second.id}\\] to ${queue.replaceAll('.', '\\.')}`));
    assert.equal(await second.get({ timeout: '10s' }), 20);
    const left = JSON.parse((await runCli(['dead-letter', 'list', '-Q', queue, '--json'], env)).stdout) as DeadLetterEntry[];
    assert.deepEqual(
      left.map((e) => e.id),
      [first.id],
    );

    const missing = await runCli(['dead-letter', 'requeue', '-Q', queue, '--id', 'no-such-task', '--force'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found: no-such-task/);
  });

  it('a quorum queue reaches the broker as one: a classic re-declaration of it is refused', async () => {
    const queue = uniqueName('quorum-type');
    const app = realApp({ queues: { [queue]: { type: 'quorum', deliveryLimit: 3 } } });
    cleanups.push(() => app.close());
    await app.sendTask('spec.quorum.nobody', [], {}, { queue, ignoreResult: true });
    const connection = await amqplib.connect(AMQP_URL);
    cleanups.push(async () => {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue);
      await channel.deleteQueue(`${queue}.dead-letter`);
      await connection.close();
    });
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    const sameButClassic = { 'x-delivery-limit': 3, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${queue}.dead-letter` };
    await assert.rejects(
      channel.assertQueue(queue, { durable: true, arguments: sameButClassic }),
      /inequivalent arg 'x-queue-type'.*'quorum'/,
    );
    const checker = await connection.createChannel();
    assert.equal(
      (await checker.checkQueue(`${queue}.dead-letter`)).queue,
      `${queue}.dead-letter`,
      'its dead-letter target was declared with it',
    );
  });
});

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
