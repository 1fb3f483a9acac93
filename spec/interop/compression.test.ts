import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createApp, type App, type Worker } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { defineNodeTasks } from './node-tasks.js';
import { deleteQueues, pythonProducer, type InteropQueues, type PythonOutcome } from './python-peer.js';

/**
 * Compressed task messages from Python Celery 5.2.6 (`apply_async(..., compression=...)`, which
 * kombu marks with its `compression` header) run on a celeriac worker, and Python reads the
 * result with its own AsyncResult.get().
 */
describe('interop: compressed messages from a Python Celery producer', () => {
  const queues: InteropQueues = { py: uniqueName('interop-zip.py'), node: uniqueName('interop-zip.node') };
  let app: App;
  let redis: Redis;
  let worker: Worker;
  const compressionOf = new Map<string, unknown>();

  before(async () => {
    app = createApp({ name: 'interop-zip', broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queues.node, logLevel: 'silent' });
    redis = new Redis(REDIS_URL);
    defineNodeTasks(app, queues.node, redis);
    worker = app.worker({ concurrency: 2, queues: [queues.node], hostname: `zip@%h`, shutdownTimeout: '5s' });
    worker.on('task-received', (request) => compressionOf.set(request.id, request.delivery.properties.headers.compression));
    await worker.start();
  });

  after(async () => {
    await worker.stop();
    await app.close();
    redis.disconnect();
    await deleteQueues([queues.py, queues.node]);
  });

  for (const serializer of ['json', 'msgpack'] as const) {
    for (const compression of ['zlib', 'gzip'] as const) {
      it(`${serializer}, compression='${compression}': node.add(2, 3) runs and Python gets 5`, async () => {
        const out = await pythonProducer<PythonOutcome>(queues, 'call', ['node.add', { args: [2, 3], options: { compression } }], serializer);
        assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 5 });
        assert.equal(compressionOf.get(out.id), 'application/x-gzip', 'kombu names zlib application/x-gzip');
      });
    }
  }
});
