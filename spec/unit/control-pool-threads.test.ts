import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer } from '../../lib/control/control-server.js';

/** pool_grow / pool_shrink on the threads pool: the pool follows the worker's concurrency. */
describe('remote control: pool size on the threads pool', () => {
  it('after pool_grow two tasks run in two threads at once; after pool_shrink the worker still runs tasks', async () => {
    const { app, nap, add } = await import('../support/thread-app.js');
    const hostname = 'grow-threads@spec';
    const worker = app.worker({
      pool: 'threads',
      appModule: new URL('../support/thread-app.js', import.meta.url).href,
      concurrency: 1,
      shutdownTimeout: '2s',
      hostname,
    });
    const server = new ControlServer(worker);
    try {
      await server.start();
      await worker.start();
      const client = new ControlClient(app);
      const [grown] = await client.broadcast('pool_grow', { n: 1 }, { destination: [hostname], timeout: '5s' });
      assert.deepEqual(grown, { [hostname]: { ok: 'pool will grow' } });
      // Warm both threads, then time two naps side by side.
      await Promise.all([(await nap.delay(10)).get({ timeout: '20s' }), (await nap.delay(10)).get({ timeout: '20s' })]);
      const started = Date.now();
      const naps = await Promise.all([nap.delay(600), nap.delay(600)]);
      assert.deepEqual(await Promise.all(naps.map((n) => n.get({ timeout: '20s' }))), [600, 600]);
      assert.ok(Date.now() - started < 1150, `two naps of 600 ms took ${Date.now() - started} ms: not side by side`);
      const [shrunk] = await client.broadcast('pool_shrink', { n: 1 }, { destination: [hostname], timeout: '5s' });
      assert.deepEqual(shrunk, { [hostname]: { ok: 'pool will shrink' } });
      assert.equal(worker.concurrency, 1);
      assert.equal(await (await add.delay(20, 22)).get({ timeout: '10s' }), 42);
    } finally {
      await worker.stop();
      await server.stop();
      await app.close();
    }
  });
});
