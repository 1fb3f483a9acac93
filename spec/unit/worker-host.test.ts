import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, describe, it } from 'node:test';
import { DelayedDelivery } from '../../lib/app/delayed-delivery.js';
import { resolveConfig } from '../../lib/app/config.js';
import { Producer } from '../../lib/app/producer.js';
import { queueDeclaration } from '../../lib/app/queues.js';
import { Task } from '../../lib/app/task.js';
import { createBackend } from '../../lib/backends/registry.js';
import { createTransport } from '../../lib/broker/registry.js';
import type { TransportOptions } from '../../lib/broker/transport.js';
import { AsyncResult } from '../../lib/result/async-result.js';
import { newId } from '../../lib/util/ids.js';
import type { BrokerEvents, WorkerHost } from '../../lib/worker/host.js';
import type { RequestOutcome } from '../../lib/worker/request.js';
import { Worker } from '../../lib/worker/worker.js';
import { captureLogger } from '../support/capture-logger.js';
import { takeMessages } from '../support/apps.js';

/**
 * A worker host made by hand from the app core's parts (config, producer, delayed delivery) and
 * a memory:// broker and backend — no App: what a worker needs is WorkerHost, nothing more.
 */
function handMadeHost(): WorkerHost & { close(): Promise<void> } {
  const url = `memory://spec-host-${randomUUID().slice(0, 8)}`;
  const config = resolveConfig({ broker: url, backend: url, defaultQueue: `spec.host.${randomUUID().slice(0, 8)}`, logLevel: 'silent' });
  const { logger } = captureLogger();
  const oid = newId();
  const transportOptions: TransportOptions = {
    heartbeatSeconds: 0,
    confirmTimeoutMs: 5000,
    connectMaxRetries: 1,
    connectInitialDelayMs: 10,
    connectMaxDelayMs: 10,
    logger,
  };
  const transport = createTransport(url, transportOptions);
  const backend = createBackend(url, {
    resultExpiresMs: 60_000,
    logger,
    clientId: oid,
    brokerTransport: () => transport,
    transportOptions,
  });
  const delayedDelivery = new DelayedDelivery(
    () => transport,
    (queue) => queueDeclaration(queue, config),
  );
  const producer = new Producer(config, () => transport, oid, delayedDelivery);
  const tasks = new Map<string, Task<never[]>>();
  const host: WorkerHost & { close(): Promise<void> } = {
    config,
    logger,
    oid,
    transport,
    backend,
    hasBackend: true,
    delayedDelivery,
    tasks,
    events: new EventEmitter<BrokerEvents>(),
    publishTask: (id, name, args, kwargs, options, lineage) =>
      producer.send(id, name, args, kwargs, options, tasks.get(name)?.options, lineage),
    async sendTask(name, args = [], kwargs = {}, options = {}, lineage = {}) {
      const id = newId();
      await host.publishTask(id, name, args, kwargs, options, lineage);
      return host.asyncResult(id);
    },
    asyncResult: (id, parent = null) => new AsyncResult(id, () => backend, parent),
    async close() {
      await backend.close();
      await transport.close();
    },
  };
  return host;
}

function register<A extends unknown[], R>(host: WorkerHost, name: string, fn: (...args: A) => R): Task<A, R> {
  const task = new Task<A, R>(host, name, fn);
  (host.tasks as Map<string, Task<never[]>>).set(name, task as unknown as Task<never[]>);
  return task;
}

describe('a Worker built from a hand-made WorkerHost (no App)', () => {
  const host = handMadeHost();
  const add = register(host, 'spec.host.add', (x: number, y: number) => x + y);
  const record = register(host, 'spec.host.record', (value: number) => value);
  const { logger, lines } = captureLogger();
  const worker = new Worker(host, { concurrency: 2, hostname: 'host@spec', shutdownTimeout: '1s', logger });
  after(async () => {
    await worker.stop();
    await host.close();
  });

  it('consumes, runs and records a task end to end, and tells its listeners', async () => {
    assert.equal(worker.app, host);
    const seen: string[] = [];
    worker.on('task-received', (r) => seen.push(`received ${r.name}`));
    worker.on('task-started', (r) => seen.push(`started ${r.name}`));
    const done = new Promise<RequestOutcome>((resolve) =>
      worker.once('task-done', (r, outcome) => {
        seen.push(`done ${r.name}`);
        resolve(outcome);
      }),
    );
    await worker.start();
    assert.deepEqual(worker.consuming, [host.config.defaultQueue]);
    const sent = await add.delay(2, 3);
    assert.equal(await sent.get({ timeout: '5s' }), 5);
    assert.equal((await done).state, 'SUCCESS');
    assert.deepEqual(seen, ['received spec.host.add', 'started spec.host.add', 'done spec.host.add']);
    assert.ok(
      lines.some((line) => /^info: Task spec\.host\.add\[.+\] received$/.test(line)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => /^info: Task spec\.host\.add\[.+\] succeeded in \d+\.\d{6}s: 5$/.test(line)),
      lines.join('\n'),
    );
  });

  it('passes a result on to the callback it embeds, through the host', async () => {
    const sent = await add.s(20, 22).link(record.s()).delay();
    assert.equal(await sent.get({ timeout: '5s' }), 42);
    const deadline = Date.now() + 5000;
    let callback: { state: string; value: unknown } | undefined;
    worker.on('task-done', (r, outcome) => {
      if (r.name === 'spec.host.record' && outcome.state === 'SUCCESS') callback = { state: outcome.state, value: outcome.result };
    });
    while (!callback && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(callback, { state: 'SUCCESS', value: 42 });
  });

  it('a rate-limited task waiting longer than a timer can wait is woken by a bounded timer, not every millisecond', async () => {
    // 1e-7 per second: the second start waits about 317 years, past setTimeout's 2^31 - 1 ms.
    const slow = register(host, 'spec.host.slow', (n: number) => n);
    slow.setRateLimit(1e-7);
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const first = await slow.delay(1);
      assert.equal(await first.get({ timeout: '5s' }), 1);
      await slow.delay(2);
      const deadline = Date.now() + 5000;
      while (worker.requests().reserved.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(worker.requests().reserved.length, 1, 'the second waits for its rate');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(
        warnings.filter((name) => name === 'TimeoutOverflowWarning'),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('dead-letters a task its host does not have, with the reason', async () => {
    const queue = host.config.defaultQueue;
    const dead = new Promise<[string, string]>((resolve) => worker.once('dead-lettered', (_d, reason, error) => resolve([reason, error])));
    // Sent by name, as another service would: the host's registry has no such task.
    await host.publishTask(newId(), 'spec.host.nope', [], {}, {});
    assert.deepEqual(await dead, ['unknown-task', 'task "spec.host.nope" is not registered on this worker']);
    const [copy] = await takeMessages(host.transport, `${queue}.dead-letter`, 1, 5000);
    assert.equal(copy?.properties.headers?.task, 'spec.host.nope');
  });
});
