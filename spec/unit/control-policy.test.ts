import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer } from '../../lib/control/control-server.js';
import { memoryApp } from '../support/apps.js';

/** The controlCommands policy on a running node (memory://): what it refuses is answered with {error} and not done. */
describe('remote control: controlCommands on a node', () => {
  it("'safe' answers inspect commands and refuses shutdown, terminate, consumer and rate changes", async () => {
    const app = memoryApp({ controlCommands: 'safe' });
    app.task('spec.policy.add', (x: number, y: number) => x + y);
    const worker = app.worker({ hostname: 'safe@spec', shutdownTimeout: '1s' });
    let shutdowns = 0;
    const server = new ControlServer(worker, { onShutdown: () => shutdowns++ });
    const destination = ['safe@spec'];
    try {
      await server.start();
      await worker.start();
      const client = new ControlClient(app);
      assert.deepEqual(await client.ping({ destination }), [{ 'safe@spec': { ok: 'pong' } }]);
      const [registered] = await client.inspect('registered', { destination });
      assert.deepEqual(registered, { 'safe@spec': ['spec.policy.add'] });
      const refused = async (method: string, args: Record<string, unknown>): Promise<string> => {
        const [reply] = await client.broadcast(method, args, { destination });
        return String((reply['safe@spec'] as { error?: string }).error);
      };
      assert.match(await refused('shutdown', {}), /control command shutdown is not allowed/);
      assert.match(await refused('add_consumer', { queue: `${app.config.defaultQueue}.more` }), /not allowed/);
      assert.match(await refused('cancel_consumer', { queue: app.config.defaultQueue }), /not allowed/);
      assert.match(await refused('rate_limit', { task_name: 'spec.policy.add', rate_limit: '1/h' }), /not allowed/);
      assert.match(await refused('revoke', { task_id: 'x', terminate: true }), /revoke with terminate is not allowed/);
      // Flower sends terminate as 1.
      assert.match(await refused('revoke', { task_id: 'x', terminate: 1 }), /revoke with terminate is not allowed/);
      assert.match(await refused('terminate', { task_id: 'x' }), /not allowed/);
      const [revoke] = await client.broadcast('revoke', { task_id: 'y' }, { destination });
      assert.deepEqual(revoke, { 'safe@spec': { ok: 'tasks y flagged as revoked' } });
      assert.equal(shutdowns, 0);
      assert.deepEqual(worker.consuming, [app.config.defaultQueue]);
      assert.equal(app.tasks.get('spec.policy.add')!.options.rateLimit, undefined);
      assert.deepEqual(server.revoked.ids(), ['y']);
    } finally {
      await worker.stop();
      await server.stop();
      await app.close();
    }
  });

  it('the server option overrides the app option (the worker flag uses it)', async () => {
    const app = memoryApp();
    const worker = app.worker({ hostname: 'list@spec', shutdownTimeout: '1s' });
    const server = new ControlServer(worker, { policy: new Set(['ping']) });
    try {
      await server.start();
      await worker.start();
      const client = new ControlClient(app);
      assert.deepEqual(await client.ping({ destination: ['list@spec'] }), [{ 'list@spec': { ok: 'pong' } }]);
      const [stats] = await client.inspect('stats', { destination: ['list@spec'] });
      assert.match(String((stats['list@spec'] as { error: string }).error), /control command stats is not allowed/);
    } finally {
      await worker.stop();
      await server.stop();
      await app.close();
    }
  });
});
