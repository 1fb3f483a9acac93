import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createAmqpTransport } from '../../lib/broker/amqp/transport.js';
import type { Delivery, Transport } from '../../lib/broker/transport.js';
import type { App, TaskContext, Worker } from '../../lib/index.js';
import { encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { AMQP_URL, gate, realApp, uniqueName } from '../support/apps.js';
import { captureLogger } from '../support/capture-logger.js';
import { brokerQueues, deleteQueues, withRawChannel } from '../support/rabbitmq-queues.js';

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Consumers of the queue, asked on a connection of its own; 0 while it does not exist. */
async function consumersOf(queue: string): Promise<number> {
  return withRawChannel(async (channel) => {
    try {
      return (await channel.checkQueue(queue)).consumerCount;
    } catch {
      return 0;
    }
  });
}

/**
 * What a consumer does when RabbitMQ cancels it (basic.cancel). The cause here is the queue being
 * deleted under it, by a connection of the spec's own; a quorum queue's leader moving to another
 * node of a cluster cancels consumers the same way, and the consumer does not tell the causes apart.
 */
describe('a consumer the broker cancelled (queue deleted under it)', { timeout: 120_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('transport: the queue is declared and consumed again; deliveries in flight are acked on their channel, not redelivered', async () => {
    const { logger, lines } = captureLogger();
    const transport: Transport = createAmqpTransport(AMQP_URL, {
      heartbeatSeconds: 30,
      confirmTimeoutMs: 15_000,
      connectMaxRetries: 3,
      connectInitialDelayMs: 50,
      connectMaxDelayMs: 500,
      logger,
    });
    const [kept, deleted] = [uniqueName('cancel.kept'), uniqueName('cancel.deleted')];
    cleanups.push(async () => {
      await transport.close();
      await deleteQueues([kept, deleted]);
    });
    await transport.declareQueue({ name: kept, durable: true });
    await transport.declareQueue({ name: deleted, durable: true, type: 'quorum' });
    const got: Delivery[] = [];
    // One consumer of both queues: one channel, whose deliveries share one sequence of delivery tags.
    await transport.consume([kept, deleted], { prefetch: 10 }, (delivery) => got.push(delivery));
    const send = (queue: string, body: string) =>
      transport.publish(
        { body: Buffer.from(body), contentType: 'text/plain', contentEncoding: 'utf-8', headers: {} },
        { exchange: '', routingKey: queue },
      );
    await send(kept, 'before');
    await send(deleted, 'before');
    await waitUntil(() => got.length === 2, 'both delivered');

    await deleteQueues([deleted]);
    await waitUntil(async () => (await consumersOf(deleted)) === 1, 'the deleted queue declared and consumed again');
    assert.deepEqual(
      got.map((d) => d.ack()),
      [true, true],
      'both still settle-able on their channel',
    );
    await send(kept, 'marker');
    await send(deleted, 'after');
    await waitUntil(() => got.length === 4, 'the messages sent afterwards');
    // Had the channel closed, `before` on the kept queue would have come back (redelivered) ahead of the marker.
    assert.deepEqual(
      got.map((d) => `${d.queue === kept ? 'kept' : 'deleted'}:${d.body.toString()}:${d.redelivered}`),
      ['kept:before:false', 'deleted:before:false', 'kept:marker:false', 'deleted:after:false'],
    );
    for (const delivery of got.slice(2)) assert.equal(delivery.ack(), true);
    await waitUntil(async () => {
      const held = await brokerQueues([kept, deleted]);
      return [kept, deleted].every((name) => held.get(name)?.unacked === 0 && held.get(name)?.messages === 0);
    }, 'every message acked');
    const held = await brokerQueues([deleted]);
    assert.equal(held.get(deleted)?.type, 'quorum', 'declared again as declared before');
    assert.ok(
      lines.some((line) => line.startsWith(`warn: broker amqp://guest:***@127.0.0.1:5672 cancelled the consumer of queue ${deleted}`)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => line.includes(`consuming queue ${deleted} again`)),
      lines.join('\n'),
    );
    assert.ok(!lines.some((line) => line.includes('closed the consumer channel')), lines.join('\n'));
  });

  it('worker: running tasks finish and are acked once; the queue comes back with its delay binding; later tasks run', async () => {
    const { logger, lines } = captureLogger();
    const app: App = realApp({ logger });
    const queue = app.config.defaultQueue;
    const worker: Worker = app.worker({ concurrency: 4 });
    cleanups.push(async () => {
      await worker.stop();
      await app.close();
      await deleteQueues([queue, `${queue}.dead-letter`]);
    });
    const runs = new Map<string, number>();
    const count = (id: string) => runs.set(id, (runs.get(id) ?? 0) + 1);
    const release = gate();
    const slow = app.task('spec.cancel.slow', async function (this: TaskContext) {
      count(this.id);
      await release.promise;
      return 'slow';
    });
    const quick = app.task('spec.cancel.quick', function (this: TaskContext) {
      count(this.id);
      return 'quick';
    });
    await worker.start();
    // A countdown before the delete: the queue is bound to the delay tiers' exit exchange too.
    assert.equal(await (await quick.applyAsync([], {}, { countdown: 100 })).get({ timeout: '20s' }), 'quick');
    const running = [await slow.delay(), await slow.delay()];
    await waitUntil(() => running.every((r) => runs.get(r.id) === 1), 'both slow tasks running');

    await deleteQueues([queue]);
    await waitUntil(async () => (await consumersOf(queue)) === 1, 'the worker declared and consumed its queue again');
    release.open();
    assert.deepEqual(await Promise.all(running.map((r) => r.get({ timeout: '20s' }))), ['slow', 'slow']);
    // Through the queue's own direct exchange, as kombu publishes: that binding came back too.
    const viaExchange = app.producer.build('spec.cancel.quick', [], {}, {});
    await app.transport.publish(encodeTaskMessage(viaExchange, 'json'), { exchange: queue, routingKey: queue });
    const afterwards = [await quick.delay(), await quick.applyAsync([], {}, { countdown: 200 }), app.asyncResult(viaExchange.headers.id)];
    assert.deepEqual(await Promise.all(afterwards.map((r) => r.get({ timeout: '20s' }))), ['quick', 'quick', 'quick']);

    assert.ok(
      [...runs.values()].every((n) => n === 1),
      `every task ran once: ${JSON.stringify([...runs])}`,
    );
    await waitUntil(async () => {
      const held = (await brokerQueues([queue])).get(queue);
      return held?.unacked === 0 && held.messages === 0 && held.consumers === 1;
    }, 'nothing left unacked or waiting');
    assert.ok(
      lines.some((line) => line.startsWith('warn:') && line.includes(`cancelled the consumer of queue ${queue}`)),
      lines.join('\n'),
    );
    assert.ok(!lines.some((line) => /could not be acked|closed the consumer channel/.test(line)), lines.join('\n'));
  });
});
