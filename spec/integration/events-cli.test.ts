import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, startCli, type RunningProcess } from '../support/processes.js';

/** `celeriac events` against a real `celeriac worker -E`: the dump and the live view. */
describe('celeriac events', () => {
  const queue = uniqueName('events');
  const node = `events-${randomUUID().slice(0, 8)}`;
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const started: RunningProcess[] = [];
  const start = (args: string[]): RunningProcess => {
    const process = startCli(args, env);
    started.push(process);
    return process;
  };

  after(async () => {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    const app = createApp({ broker: AMQP_URL, backend: null, logLevel: 'silent' });
    await app.transport.deleteQueue(queue).catch(() => undefined);
    await app.close();
  });

  it('--dump prints a line per event of a worker started with -E, and the live view lists it', async () => {
    const dump = start(['events', '--dump', '--broker', AMQP_URL]);
    const live = start(['events', '--broker', AMQP_URL]);
    // Both receivers bind their queue on start; give them a moment before the worker goes online.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const worker = start(['worker', '-A', EXAMPLE_TASKS, '-E', '-c', '2', '-Q', queue, '-n', `${node}@%h`, '-l', 'info']);
    await worker.waitFor(/ready: queues/);
    await dump.waitFor(new RegExp(`${node}@\\S+ worker-online`));

    const producer = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, logLevel: 'silent' });
    try {
      const result = await producer.sendTask<number>('tasks.add', [20, 22]);
      assert.equal(await result.get({ timeout: '20s' }), 42);
      await dump.waitFor(new RegExp(`${node}@\\S+ task-received [^\\n]*${result.id}`));
      await dump.waitFor(new RegExp(`${node}@\\S+ task-succeeded [^\\n]*${result.id}[^\\n]*"result":"42"`));
      await live.waitFor(new RegExp(`${result.id.slice(0, 36)}\\s+tasks\\.add\\s+SUCCESS\\s+${node}`));
      await live.waitFor(new RegExp(`${node}@\\S+\\s+online`));
    } finally {
      await producer.close();
    }
    worker.child.kill('SIGTERM');
    await worker.exited;
    await dump.waitFor(new RegExp(`${node}@\\S+ worker-offline`));
  });
});
