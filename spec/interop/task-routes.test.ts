import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { chain, createApp, Signature, type App, type Worker } from '../../lib/index.js';
import type { RunningProcess } from '../support/processes.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { defineNodeTasks } from './node-tasks.js';
import {
  deleteQueues,
  pythonProducer,
  startPythonWorker,
  stopPythonWorker,
  type InteropQueues,
  type PythonOutcome,
} from './python-peer.js';

/**
 * celeriac's `taskRoutes` as the counterpart of Celery's `task_routes`: with the Python queue
 * routed on both sides, mixed workflows need no per-signature queue on either side.
 */
describe('interop: taskRoutes ⇄ task_routes', () => {
  const queues: InteropQueues = { py: uniqueName('interop-routes.py'), node: uniqueName('interop-routes.node') };
  let python: RunningProcess | undefined;
  let app: App;
  let redis: Redis;
  let worker: Worker;

  before(async () => {
    app = createApp({
      name: 'interop-routes',
      broker: AMQP_URL,
      backend: REDIS_URL,
      defaultQueue: queues.node,
      logLevel: 'silent',
      // What tasks.py says in task_routes, for the tasks this side sends.
      taskRoutes: { 'tasks.*': { queue: queues.py }, 'node.*': { queue: queues.node } },
    });
    redis = new Redis(REDIS_URL);
    defineNodeTasks(app, queues.node, redis);
    worker = app.worker({ concurrency: 2, queues: [queues.node], hostname: 'routes@%h', shutdownTimeout: '5s' });
    [python] = await Promise.all([startPythonWorker(queues), worker.start()]);
  });

  after(async () => {
    await stopPythonWorker(python);
    await worker.stop();
    await app.close();
    redis.disconnect();
    await deleteQueues([queues.py, queues.node]);
  });

  it('a Python-built mixed chain needs no .set(queue=...) on the Python steps a celeriac worker sends', async () => {
    const out = await pythonProducer<PythonOutcome>(queues, 'mixed_chain_routed');
    assert.equal(out.result, 60);
  });

  it('sendTask and Node-built signatures of Python tasks need no queue option', async () => {
    assert.equal(await (await app.sendTask<number>('tasks.add', [2, 3])).get({ timeout: '20s' }), 5);
    const result = await chain(
      new Signature({ task: 'tasks.add', args: [2, 3] }, app),
      new Signature({ task: 'tasks.multiply', args: [4] }, app),
    ).applyAsync();
    assert.equal(await result.get({ timeout: '20s' }), 20);
  });
});
