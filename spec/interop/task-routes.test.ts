import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chain, Signature, type App } from '../../lib/index.js';
import { uniqueName } from '../support/apps.js';
import { startMixedPeers, stopMixedPeers, type MixedPeers } from './mixed-peers.js';
import { pythonProducer, type InteropQueues, type PythonOutcome } from './python-peer.js';

/**
 * celeriac's `taskRoutes` as the counterpart of Celery's `task_routes`: with the Python queue
 * routed on both sides, mixed workflows need no per-signature queue on either side.
 */
describe('interop: taskRoutes ⇄ task_routes', () => {
  const queues: InteropQueues = { py: uniqueName('interop-routes.py'), node: uniqueName('interop-routes.node') };
  let peers: MixedPeers | undefined;
  let app: App;

  before(async () => {
    peers = await startMixedPeers(queues, {
      app: {
        name: 'interop-routes',
        // What tasks.py says in task_routes, for the tasks this side sends.
        taskRoutes: { 'tasks.*': { queue: queues.py }, 'node.*': { queue: queues.node } },
      },
      worker: { concurrency: 2, hostname: 'routes@%h' },
    });
    ({ app } = peers);
  });

  after(() => stopMixedPeers(peers, queues));

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
