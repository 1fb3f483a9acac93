import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApp, type App, type Worker } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { startMixedPeers, stopMixedPeers, type MixedPeers } from './mixed-peers.js';
import { pythonProducer, type InteropQueues, type PythonOutcome } from './python-peer.js';

/**
 * Compressed task messages from Python Celery 5.2.6 (`apply_async(..., compression=...)`, which
 * kombu marks with its `compression` header) run on a celeriac worker, and Python reads the
 * result with its own AsyncResult.get(); messages a celeriac producer compresses (call option
 * `compression`, app option `taskCompression`) run on a Python Celery worker.
 */
describe('interop: compressed messages between Python Celery and celeriac', () => {
  const queues: InteropQueues = { py: uniqueName('interop-zip.py'), node: uniqueName('interop-zip.node') };
  let peers: MixedPeers | undefined;
  let app: App;
  let worker: Worker;
  const compressionOf = new Map<string, unknown>();

  before(async () => {
    peers = await startMixedPeers(queues, {
      app: { name: 'interop-zip' },
      worker: { concurrency: 2, hostname: 'zip@%h' },
      watch: (w) => w.on('task-received', (request) => compressionOf.set(request.id, request.delivery.properties.headers.compression)),
    });
    ({ app, worker } = peers);
  });

  after(() => stopMixedPeers(peers, queues));

  for (const serializer of ['json', 'msgpack'] as const) {
    for (const compression of ['zlib', 'gzip'] as const) {
      it(`${serializer}, compression='${compression}': node.add(2, 3) runs and Python gets 5`, async () => {
        const out = await pythonProducer<PythonOutcome>(
          queues,
          'call',
          ['node.add', { args: [2, 3], options: { compression } }],
          serializer,
        );
        assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 5 });
        assert.equal(compressionOf.get(out.id), 'application/x-gzip', 'kombu names zlib application/x-gzip');
      });
    }
  }

  for (const compression of ['zlib', 'gzip', 'application/x-gzip'] as const) {
    it(`a celeriac producer's compression '${compression}' is read by the Python worker`, async () => {
      const result = await app.sendTask<number>('tasks.add', [2, 3], {}, { queue: queues.py, compression });
      assert.equal(await result.get({ timeout: '20s' }), 5);
    });
  }

  it("the app's taskCompression applies unless a call says null; a bad name fails the call, naming the option", async () => {
    const zipping = createApp({
      name: 'interop-zip-app',
      broker: AMQP_URL,
      backend: REDIS_URL,
      defaultQueue: queues.node,
      logLevel: 'silent',
      taskCompression: 'zlib',
    });
    try {
      const seen: unknown[] = [];
      worker.on('task-received', (request) => seen.push(request.delivery.properties.headers.compression));
      assert.equal(await (await zipping.sendTask<number>('node.add', [4, 5])).get({ timeout: '20s' }), 9);
      assert.equal(await (await zipping.sendTask<number>('node.add', [1, 1], {}, { compression: null })).get({ timeout: '20s' }), 2);
      assert.deepEqual(seen, ['application/x-gzip', undefined]);
      await assert.rejects(
        zipping.sendTask('node.add', [1, 1], {}, { compression: 'application/x-bz2' }),
        /compression: expected null or one of .*zlib.*, got "application\/x-bz2"/,
      );
    } finally {
      await zipping.close();
    }
  });
});
