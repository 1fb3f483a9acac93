import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ResultTimeoutError, TaskFailedError, type App, type TaskContext } from '../../lib/index.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer } from '../../lib/control/control-server.js';
import { revocationStore } from '../../lib/control/revocations.js';
import { gate, memoryApp } from '../support/apps.js';

/** Remote control on memory://: the mailbox, every inspect method, and revocations. */
describe('remote control (memory://)', () => {
  const apps: App[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
    for (const app of apps) await app.close();
  });

  async function node(app: App, hostname: string, options: { concurrency?: number; queues?: string[] } = {}) {
    const worker = app.worker({ hostname, shutdownTimeout: '1s', ...options });
    const server = new ControlServer(worker);
    await server.start();
    await worker.start();
    stops.push(async () => {
      await worker.stop();
      await server.stop();
    });
    return { worker, server };
  }

  function setup() {
    const app = memoryApp();
    apps.push(app);
    const started = gate();
    const release = gate();
    const held = app.task('spec.control.held', async function (this: TaskContext) {
      started.open();
      await Promise.race([release.promise, new Promise((resolve) => this.signal.addEventListener('abort', resolve))]);
      return 'done';
    });
    const forever = app.task('spec.control.forever', () => new Promise(() => started.open()));
    const add = app.task('spec.control.add', (x: number, y: number) => x + y);
    return { app, started, release, held, forever, add, client: new ControlClient(app) };
  }

  it('ping reaches every node; -d reaches only the named one', async () => {
    const { app, client } = setup();
    await node(app, 'a@spec');
    await node(app, 'b@spec');
    const all = await client.ping({ timeout: 300 });
    assert.deepEqual(Object.assign({}, ...all), { 'a@spec': { ok: 'pong' }, 'b@spec': { ok: 'pong' } });
    const one = await client.ping({ destination: ['b@spec'], timeout: '5s' });
    assert.deepEqual(one, [{ 'b@spec': { ok: 'pong' } }]);
  });

  it('inspect registered, active, reserved, stats, active_queues', async () => {
    const { app, client, held, add, started, release } = setup();
    await node(app, 'i@spec', { concurrency: 1 });
    const destination = ['i@spec'];
    const registered = await client.inspect('registered', { destination });
    assert.deepEqual(registered[0]['i@spec'], ['spec.control.add', 'spec.control.forever', 'spec.control.held']);
    const running = await held.delay();
    await started.promise;
    const waiting = await add.delay(1, 2);
    const [active] = await client.inspect('active', { destination });
    assert.deepEqual(
      (active['i@spec'] as { id: string; name: string }[]).map((r) => [r.id, r.name]),
      [[running.id, 'spec.control.held']],
    );
    const [reserved] = await client.inspect('reserved', { destination });
    assert.deepEqual(
      (reserved['i@spec'] as { id: string }[]).map((r) => r.id),
      [waiting.id],
    );
    release.open();
    assert.equal(await waiting.get({ timeout: '5s' }), 3);
    const [stats] = await client.inspect('stats', { destination });
    const s = stats['i@spec'] as { pid: number; total: Record<string, number>; pool: Record<string, unknown>; prefetch_count: number };
    assert.equal(s.pid, process.pid);
    assert.deepEqual(s.total, { 'spec.control.held': 1, 'spec.control.add': 1 });
    assert.equal(s.pool['max-concurrency'], 1);
    const [queues] = await client.inspect('active_queues', { destination });
    assert.deepEqual(
      (queues['i@spec'] as { name: string }[]).map((q) => q.name),
      [app.config.defaultQueue],
    );
  });

  it('add_consumer and cancel_consumer change what a worker consumes', async () => {
    const { app, client, add } = setup();
    const { worker } = await node(app, 'q@spec');
    const extra = `${app.config.defaultQueue}.extra`;
    const [added] = await client.addConsumer(extra, { destination: ['q@spec'] });
    assert.deepEqual(added, { 'q@spec': { ok: `add consumer ${extra}` } });
    assert.deepEqual(worker.consuming, [app.config.defaultQueue, extra]);
    assert.equal(await (await add.applyAsync([2, 2], {}, { queue: extra })).get({ timeout: '5s' }), 4);
    const [cancelled] = await client.cancelConsumer(extra, { destination: ['q@spec'] });
    assert.deepEqual(cancelled, { 'q@spec': { ok: `no longer consuming from ${extra}` } });
    assert.deepEqual(worker.consuming, [app.config.defaultQueue]);
    const [unknown] = await client.broadcast('no_such_method', {}, { destination: ['q@spec'] });
    assert.match(String((unknown['q@spec'] as { error: string }).error), /No such control command/);
  });

  it("rate_limit changes a task's rate on the worker; an unknown task is an error", async () => {
    const { app, client, add } = setup();
    await node(app, 'r@spec');
    const [reply] = await client.rateLimit('spec.control.add', '10/m', { destination: ['r@spec'] });
    assert.deepEqual(reply, { 'r@spec': { ok: 'new rate limit set successfully' } });
    assert.equal(add.options.rateLimit, '10/m');
    const [unknown] = await client.rateLimit('nope', '1/s', { destination: ['r@spec'] });
    assert.deepEqual(unknown, { 'r@spec': { error: 'unknown task nope' } });
  });

  it('rate_limit lifted: a task held back by the old rate starts at once, not when the old wait is up', async () => {
    const { app, client, add } = setup();
    await node(app, 'rl@spec', { concurrency: 2 });
    await client.rateLimit('spec.control.add', '1/h', { destination: ['rl@spec'] });
    assert.equal(await (await add.delay(1, 1)).get({ timeout: '5s' }), 2);
    const held = await add.delay(2, 2); // an hour from the first start at 1/h
    await assert.rejects(held.get({ timeout: '300ms' }), ResultTimeoutError, 'held back by the rate');
    await client.rateLimit('spec.control.add', 0, { destination: ['rl@spec'] }); // 0: no limit
    assert.equal(await held.get({ timeout: '2s' }), 4);
  });

  it("store: null keeps a worker's revocations in its memory: none written to the backend", async () => {
    const { app, client, add } = setup();
    const worker = app.worker({ hostname: 'mem@spec', shutdownTimeout: '1s' });
    const server = new ControlServer(worker, { store: null });
    await server.start();
    await worker.start();
    stops.push(async () => {
      await worker.stop();
      await server.stop();
    });
    const sent = await add.delay(1, 2);
    await sent.get({ timeout: '5s' });
    await client.broadcast('revoke', { task_id: sent.id }, { destination: ['mem@spec'], reply: true });
    assert.ok(server.revoked.has(sent.id), 'revoked in the worker');
    assert.equal((await revocationStore(app)!.list()).has(sent.id), false, 'not in the backend');
  });

  it('a revoke sent while no worker runs is honoured by a worker that starts later: not run, REVOKED', async () => {
    const { app, client, add } = setup();
    const result = await add.delay(1, 1);
    await client.revoke(result.id);
    const { server } = await node(app, 'late@spec');
    await assert.rejects(result.get({ timeout: '5s' }), (e: unknown) => e instanceof TaskFailedError && e.state === 'REVOKED');
    assert.ok(server.revoked.has(result.id));
    const [revoked] = await client.inspect('revoked', { destination: ['late@spec'] });
    assert.deepEqual(revoked, { 'late@spec': [result.id] });
    assert.ok((await revocationStore(app)!.list()).has(result.id));
  });

  it('revoke --terminate gives up a running task (even one that ignores its signal) and records REVOKED', async () => {
    const { app, client, forever, add, started } = setup();
    await node(app, 't@spec', { concurrency: 1 });
    const running = await forever.delay();
    await started.promise;
    const [reply] = await client.revoke(running.id, { terminate: true, destination: ['t@spec'], reply: true });
    assert.deepEqual(reply, { 't@spec': { ok: `tasks ${running.id} flagged as revoked` } });
    await assert.rejects(running.get({ timeout: '5s' }), (e: unknown) => e instanceof TaskFailedError && e.state === 'REVOKED');
    // The slot was freed.
    assert.equal(await (await add.delay(2, 3)).get({ timeout: '5s' }), 5);
  });

  it('collects nothing when no node listens', async () => {
    const { client } = setup();
    assert.deepEqual(await client.ping({ timeout: 100 }), []);
  });
});

describe('remote control with the threads pool', () => {
  it('revoke --terminate terminates the thread of a CPU-bound task; the worker goes on', async () => {
    const { app, spin, add } = await import('../support/thread-app.js');
    const worker = app.worker({
      pool: 'threads',
      appModule: new URL('../support/thread-app.js', import.meta.url).href,
      concurrency: 1,
      shutdownTimeout: '1s',
      hostname: 'threads@spec',
    });
    const server = new ControlServer(worker);
    try {
      await server.start();
      await worker.start();
      const looping = await spin.delay();
      const client = new ControlClient(app);
      // Wait until it runs: inspect active lists it.
      for (;;) {
        const [active] = await client.inspect('active', { destination: ['threads@spec'] });
        if ((active?.['threads@spec'] as unknown[] | undefined)?.length) break;
      }
      await client.revoke(looping.id, { terminate: true, destination: ['threads@spec'], reply: true });
      await assert.rejects(looping.get({ timeout: '10s' }), (e: unknown) => e instanceof TaskFailedError && e.state === 'REVOKED');
      assert.equal(await (await add.delay(20, 22)).get({ timeout: '10s' }), 42);
    } finally {
      await worker.stop();
      await server.stop();
      await app.close();
    }
  });
});

describe('revocations are a store of the result backend', () => {
  it('none for rpc:// or no backend (revokes then live in worker memory only)', async () => {
    const rpc = memoryApp({ backend: 'rpc://' });
    const none = memoryApp({ backend: null });
    try {
      assert.equal(revocationStore(rpc), null);
      assert.equal(revocationStore(none), null);
    } finally {
      await Promise.all([rpc.close(), none.close()]);
    }
  });
});
