import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { receiveEvents } from '../../lib/events/receiver.js';
import type { CeleryEvent } from '../../lib/events/dispatcher.js';
import { WorkerEventSender } from '../../lib/events/worker-events.js';
import { WorkerMetrics } from '../../lib/metrics/worker-metrics.js';
import type { TaskContext } from '../../lib/index.js';
import type { TaskRequest } from '../../lib/worker/request.js';
import { gate, memoryApp } from '../support/apps.js';

describe('events and metrics (memory://)', () => {
  const app = memoryApp({ taskSendSentEvent: true });
  const add = app.task('spec.events.add', (x: number, y: number) => x + y);
  const fail = app.task('spec.events.fail', () => {
    throw new RangeError('no');
  });
  const retryOnce = app.task('spec.events.retry-once', function (this: TaskContext) {
    if (this.retries < 1) this.retry({ countdown: 0, exc: new RangeError('once more') });
    return this.retries;
  });
  const worker = app.worker({ hostname: 'ev@spec', shutdownTimeout: '1s' });
  const sender = new WorkerEventSender(worker);
  const metrics = new WorkerMetrics(worker);
  after(async () => {
    await worker.stop();
    await sender.stop();
    await metrics.close();
    await app.close();
  });

  it("sends Celery events for a task's life and the worker, and counts tasks by state", async () => {
    const events: CeleryEvent[] = [];
    const receiver = await receiveEvents(app, (e) => events.push(e));
    await sender.start();
    await worker.start();
    const ok = await add.delay(2, 3);
    assert.equal(await ok.get({ timeout: '5s' }), 5);
    await assert.rejects((await fail.delay()).get({ timeout: '5s' }));
    // Events are published without awaiting: wait until both outcomes arrived.
    while (!(events.some((e) => e.type === 'task-succeeded') && events.some((e) => e.type === 'task-failed')))
      await new Promise((resolve) => setTimeout(resolve, 10));
    await receiver.close();
    const types = events.filter((e) => e.uuid === ok.id).map((e) => e.type);
    assert.deepEqual(types, ['task-sent', 'task-received', 'task-started', 'task-succeeded']);
    assert.ok(events.some((e) => e.type === 'worker-online' && e.hostname === 'ev@spec'));
    assert.ok(events.some((e) => e.type === 'task-failed' && String(e.exception).startsWith('RangeError')));
    const succeeded = events.find((e) => e.type === 'task-succeeded')!;
    assert.equal(succeeded.result, '5');
    assert.equal(typeof succeeded.clock, 'number');
    const text = await metrics.registry.metrics();
    assert.match(text, /celeriac_tasks_total\{name="spec.events.add",state="SUCCESS",worker="ev@spec"\} 1/);
    assert.match(text, /celeriac_tasks_total\{name="spec.events.fail",state="FAILURE",worker="ev@spec"\} 1/);
    assert.match(text, /celeriac_task_runtime_seconds_count\{worker="ev@spec",name="spec.events.add"\} 1/);
    assert.match(text, /celeriac_prefetch_limit\{worker="ev@spec"\} \d+/);
    assert.match(text, /celeriac_queue_depth\{queue="[^"]+",worker="ev@spec"\} 0/);
  });

  it("a retry's task-retried is sent before its new message's task-received (monitors keep the last state)", async () => {
    const events: CeleryEvent[] = [];
    const receiver = await receiveEvents(app, (e) => events.push(e));
    // A broker whose confirm of the retry's message comes after that message was delivered and
    // its run received (RabbitMQ may confirm that late): the confirm is held until then.
    const transport = app.transport;
    const publish = transport.publish.bind(transport);
    const retryReceived = gate();
    const onReceived = (request: TaskRequest): void => {
      if (request.name === retryOnce.name && request.message.headers.retries === 1) retryReceived.open();
    };
    worker.on('task-received', onReceived);
    transport.publish = async (message, target) => {
      await publish(message, target);
      if (message.headers.task === retryOnce.name && message.headers.retries === 1) await retryReceived.promise;
    };
    try {
      const result = await retryOnce.delay();
      assert.equal(await result.get({ timeout: '5s' }), 1);
      while (!events.some((e) => e.type === 'task-succeeded' && e.uuid === result.id))
        await new Promise((resolve) => setTimeout(resolve, 10));
      const types = events.filter((e) => e.uuid === result.id).map((e) => e.type);
      assert.deepEqual(types, [
        'task-sent',
        'task-received',
        'task-started',
        'task-retried',
        'task-received',
        'task-started',
        'task-succeeded',
      ]);
      assert.match(String(events.find((e) => e.type === 'task-retried')!.exception), /^RangeError/);
    } finally {
      transport.publish = publish;
      worker.off('task-received', onReceived);
      await receiver.close();
    }
  });

  it('a task revoked before its turn gets task-received and task-revoked, no task-started (it never ran)', async () => {
    const events: CeleryEvent[] = [];
    const receiver = await receiveEvents(app, (e) => events.push(e));
    const revokedId = 'spec-events-revoked-before-run';
    const isRevoked = worker.isRevoked;
    worker.isRevoked = (id) => id === revokedId;
    try {
      const result = await add.applyAsync([1, 1], {}, { taskId: revokedId });
      await assert.rejects(result.get({ timeout: '5s' }), (e: unknown) => (e as { state?: string }).state === 'REVOKED');
      while (!events.some((e) => e.type === 'task-revoked' && e.uuid === revokedId))
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(
        events.filter((e) => e.uuid === revokedId && e.type !== 'task-sent').map((e) => e.type),
        ['task-received', 'task-revoked'],
      );
    } finally {
      worker.isRevoked = isRevoked;
      await receiver.close();
    }
  });
});
