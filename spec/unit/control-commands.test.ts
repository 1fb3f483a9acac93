import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TimeLimitExceeded, type App, type TaskContext } from '../../lib/index.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer, type ControlServerOptions } from '../../lib/control/control-server.js';
import { configReport, HIDDEN } from '../../lib/control/config-report.js';
import { humanBytes } from '../../lib/control/debug-handlers.js';
import { brokerInfo } from '../../lib/control/broker-info.js';
import { CONTROL_COMMANDS, SAFE_CONTROL_COMMANDS } from '../../lib/app/command-policy.js';
import { HANDLERS } from '../../lib/control/handlers.js';
import { gate, memoryApp } from '../support/apps.js';

/** The remote-control commands beyond the basics: what each answers, what it changes, and bad arguments. */
describe('remote control: Celery 5.2 commands (memory://)', () => {
  const apps: App[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
    for (const app of apps) await app.close();
  });

  async function setup(
    hostname: string,
    options: { concurrency?: number; prefetchMultiplier?: number; server?: ControlServerOptions } = {},
  ) {
    const app = memoryApp();
    apps.push(app);
    const worker = app.worker({
      hostname,
      shutdownTimeout: '1s',
      concurrency: options.concurrency ?? 2,
      ...(options.prefetchMultiplier ? { prefetchMultiplier: options.prefetchMultiplier } : {}),
    });
    const server = new ControlServer(worker, options.server);
    await server.start();
    await worker.start();
    stops.push(async () => {
      await worker.stop();
      await server.stop();
    });
    const client = new ControlClient(app);
    const destination = [hostname];
    const call = async (method: string, args: Record<string, unknown> = {}): Promise<unknown> => {
      const [reply] = await client.broadcast(method, args, { destination, timeout: '5s' });
      return reply?.[hostname];
    };
    return { app, worker, client, call };
  }

  it('every command is known to the policy, and every known command has a handler', () => {
    for (const name of Object.keys(HANDLERS)) assert.ok((CONTROL_COMMANDS as readonly string[]).includes(name), name);
    for (const name of CONTROL_COMMANDS) assert.equal(typeof HANDLERS[name], 'function', name);
    for (const unsafe of [
      'pool_grow',
      'pool_shrink',
      'autoscale',
      'pool_restart',
      'time_limit',
      'enable_events',
      'disable_events',
      'heartbeat',
    ]) {
      assert.ok(!(SAFE_CONTROL_COMMANDS as readonly string[]).includes(unsafe), unsafe);
    }
    for (const safe of ['conf', 'query_task', 'clock', 'dump_active', 'dump_conf', 'memsample']) {
      assert.ok((SAFE_CONTROL_COMMANDS as readonly string[]).includes(safe), safe);
    }
  });

  it('pool_grow and pool_shrink change concurrency, visible in stats; bad n is refused', async () => {
    const multiplier = 4;
    const { worker, call } = await setup('pool@spec', { concurrency: 2, prefetchMultiplier: multiplier });
    assert.equal(worker.prefetch, 2 * multiplier);
    assert.deepEqual(await call('pool_grow', { n: 3 }), { ok: 'pool will grow' });
    assert.equal(worker.concurrency, 5);
    assert.equal(worker.prefetch, 5 * multiplier, 'the prefetch follows, as Celery’s');
    assert.deepEqual(await call('pool_shrink'), { ok: 'pool will shrink' });
    assert.equal(worker.concurrency, 4);
    const stats = (await call('stats')) as { prefetch_count: number; pool: { 'max-concurrency': number } };
    assert.equal(stats.pool['max-concurrency'], 4);
    assert.equal(stats.prefetch_count, 4 * multiplier);
    assert.deepEqual(await call('pool_shrink', { n: 100 }), { ok: 'pool will shrink' });
    assert.equal(worker.concurrency, 1, 'never below one');
    for (const n of [0, -1, 1.5, '2', 1e9, true]) {
      const reply = (await call('pool_grow', { n })) as { error: string };
      assert.match(reply.error, /^argument n: expected an integer from 1/, String(n));
    }
    assert.equal(worker.concurrency, 1);
  });

  it('a grown pool runs more tasks at once', async () => {
    const { app, worker, call } = await setup('grow-run@spec', { concurrency: 1 });
    const release = gate();
    let running = 0;
    let most = 0;
    const wait = app.task('spec.commands.wait', async () => {
      running++;
      most = Math.max(most, running);
      await release.promise;
      running--;
    });
    await call('pool_grow', { n: 1 });
    const sent = await Promise.all([wait.delay(), wait.delay()]);
    for (let i = 0; i < 100 && worker.active < 2; i++) await new Promise((r) => setTimeout(r, 10));
    release.open();
    await Promise.all(sent.map((s) => s.get({ timeout: '5s' })));
    assert.equal(most, 2);
  });

  it('autoscale starts an autoscaler within the bounds, prefetch for max, shown in stats; then pool_grow is refused', async () => {
    const { worker, call } = await setup('scale@spec', { concurrency: 8, prefetchMultiplier: 4 });
    assert.deepEqual(await call('autoscale', { max: 4, min: 2 }), { ok: 'autoscale now max=4 min=2' });
    assert.equal(worker.concurrency, 4);
    assert.equal(worker.prefetch, 4 * 4);
    assert.deepEqual(await call('autoscale', { max: 10, min: 6 }), { ok: 'autoscale now max=10 min=6' });
    assert.equal(worker.concurrency, 6);
    const stats = (await call('stats')) as { autoscaler: unknown; prefetch_count: number; pool: { 'max-concurrency': number } };
    assert.deepEqual(stats.autoscaler, { max: 10, min: 6, current: 6, qty: 0 });
    assert.equal(stats.pool['max-concurrency'], 6);
    assert.equal(stats.prefetch_count, 10 * 4);
    assert.deepEqual(await call('autoscale', { max: 10, min: 0 }), { ok: 'autoscale now max=10 min=0' }, 'Celery allows a min of 0');
    assert.deepEqual(await call('pool_grow'), { error: 'pool_grow is not supported with autoscale. Adjust autoscale range instead.' });
    assert.deepEqual(await call('pool_shrink'), { error: 'pool_shrink is not supported with autoscale. Adjust autoscale range instead.' });
    assert.match(((await call('autoscale', { max: 2, min: 3 })) as { error: string }).error, /^argument min/);
    assert.match(((await call('autoscale', { max: 'x' })) as { error: string }).error, /^argument max/);
    assert.match(((await call('autoscale', { max: 0 })) as { error: string }).error, /^argument max/);
    assert.equal(worker.concurrency, 6);
  });

  it('pool_restart and objgraph answer not supported in Celery’s error format', async () => {
    const { call } = await setup('nope@spec');
    assert.match(((await call('pool_restart')) as { error: string }).error, /not supported/);
    assert.match(((await call('objgraph', { type: 'Request' })) as { error: string }).error, /not supported/);
    assert.match(((await call('objgraph', { type: 5 })) as { error: string }).error, /^argument type/);
  });

  it('time_limit sets the limits of later runs; unknown task and bad limits are refused', async () => {
    const { app, call } = await setup('limits@spec');
    const slow = app.task('spec.commands.slow', (ms: number) => new Promise((resolve) => setTimeout(resolve, ms, 'done')));
    assert.equal(await (await slow.delay(150)).get({ timeout: '5s' }), 'done');
    assert.deepEqual(await call('time_limit', { task_name: slow.name, soft: null, hard: 0.05 }), { ok: 'time limits set successfully' });
    assert.equal(slow.options.timeLimit, 50);
    assert.equal(slow.options.softTimeLimit, undefined);
    await assert.rejects((await slow.delay(1000)).get({ timeout: '5s' }), (error: Error) =>
      /TimeLimitExceeded/.test(`${error.name} ${error.message}`),
    );
    assert.deepEqual(await call('time_limit', { task_name: slow.name }), { ok: 'time limits set successfully' });
    assert.equal(slow.options.timeLimit, undefined);
    assert.deepEqual(await call('time_limit', { task_name: 'spec.commands.none', hard: 1 }), { error: 'unknown task' });
    for (const [args, name] of [
      [{ task_name: 5 }, 'task_name'],
      [{ task_name: slow.name, hard: -1 }, 'hard'],
      [{ task_name: slow.name, soft: 'soon' }, 'soft'],
      [{ task_name: slow.name, soft: 2e9 }, 'soft'],
    ] as const) {
      const reply = (await call('time_limit', args)) as { error: string };
      assert.match(reply.error, new RegExp(`^argument ${name}:`), JSON.stringify(args));
    }
    assert.ok(TimeLimitExceeded);
  });

  it('query_task answers held tasks by id with their state; others are left out', async () => {
    const { app, call } = await setup('query@spec', { concurrency: 1 });
    const started = gate();
    const release = gate();
    const held = app.task('spec.commands.held', async function (this: TaskContext) {
      started.open();
      await release.promise;
    });
    const running = await held.delay();
    await started.promise;
    const waiting = await held.delay();
    const reply = (await call('query_task', { ids: [running.id, waiting.id, 'not-here'] })) as Record<
      string,
      [string, { id: string; name: string }]
    >;
    assert.deepEqual(Object.keys(reply).sort(), [running.id, waiting.id].sort());
    assert.equal(reply[running.id][0], 'active');
    assert.equal(reply[running.id][1].name, 'spec.commands.held');
    assert.equal(reply[waiting.id][0], 'reserved');
    assert.deepEqual(await call('query_task', { ids: 'not-here' }), {});
    assert.match(((await call('query_task', { ids: [5] })) as { error: string }).error, /^argument ids/);
    assert.match(((await call('query_task', {})) as { error: string }).error, /^argument ids/);
    release.open();
    await running.get({ timeout: '5s' });
    await waiting.get({ timeout: '5s' });
  });

  it("Flower's argument forms: revoke's terminate as 1 or 0, a rate limit as a bare number of seconds' text", async () => {
    const { app, call } = await setup('flower-args@spec', { concurrency: 1 });
    const started = gate();
    const held = app.task('spec.commands.flower-held', function (this: TaskContext) {
      started.open();
      return new Promise((_resolve, reject) => this.signal.addEventListener('abort', () => reject(this.signal.reason as Error)));
    });
    const running = await held.delay();
    await started.promise;
    assert.deepEqual(await call('revoke', { task_id: 'flower-plain', terminate: 0, signal: 'SIGTERM' }), {
      ok: 'tasks flower-plain flagged as revoked',
    });
    assert.deepEqual(await call('revoke', { task_id: running.id, terminate: 1, signal: 'SIGTERM' }), {
      ok: `tasks ${running.id} flagged as revoked`,
    });
    await assert.rejects(running.get({ timeout: '5s' }), (e: unknown) => (e as { state?: string }).state === 'REVOKED');
    assert.match(((await call('revoke', { task_id: 'x', terminate: 2 })) as { error: string }).error, /^argument terminate/);
    const add = app.task('spec.commands.flower-add', (x: number, y: number) => x + y);
    assert.deepEqual(await call('rate_limit', { task_name: add.name, rate_limit: '5' }), { ok: 'new rate limit set successfully' });
    assert.equal(add.options.rateLimit, 5, "'5' is 5 per second, as Celery reads it");
    assert.deepEqual(await call('rate_limit', { task_name: add.name, rate_limit: '0' }), { ok: 'rate limit disabled successfully' });
    assert.equal(add.options.rateLimit, undefined);
  });

  it("stats answers the broker as kombu's Connection.info() does, without the password", async () => {
    const { call } = await setup('broker-info@spec');
    const stats = (await call('stats')) as { broker: Record<string, unknown> };
    assert.equal(stats.broker.transport, 'memory');
    assert.deepEqual(brokerInfo('amqp://alice:s3cret@rabbit.example:5673/jobs%2Fnode', 30), {
      hostname: 'rabbit.example',
      userid: 'alice',
      virtual_host: 'jobs/node',
      port: 5673,
      insist: false,
      ssl: false,
      transport: 'amqp',
      heartbeat: 30,
      login_method: 'PLAIN',
      uri_prefix: null,
      url: 'amqp://alice:***@rabbit.example:5673/jobs%2Fnode',
    });
    const tls = brokerInfo('amqps://rabbit.example', null);
    assert.deepEqual([tls.port, tls.ssl, tls.transport, tls.userid, tls.virtual_host], [5671, true, 'amqp', 'guest', '/']);
    assert.doesNotMatch(JSON.stringify(brokerInfo('amqp://u:pw@h/', 0)), /pw/);
  });

  it('dump_* aliases answer as the commands they stand for; clock and hello answer', async () => {
    const { call } = await setup('alias@spec');
    assert.deepEqual(await call('dump_tasks'), await call('registered'));
    assert.deepEqual(await call('dump_active'), []);
    assert.deepEqual(await call('dump_reserved'), []);
    assert.deepEqual(await call('dump_schedule'), []);
    assert.deepEqual(await call('dump_revoked'), []);
    assert.deepEqual(Object.keys((await call('dump_conf')) as object).sort(), Object.keys((await call('conf')) as object).sort());
    const clock = (await call('clock')) as { clock: number };
    assert.equal(typeof clock.clock, 'number');
    const hello = (await call('hello', { from_node: 'other@spec', revoked: {} })) as { revoked: object; clock: number };
    assert.deepEqual(hello.revoked, {});
    assert.equal(await call('hello', { from_node: 'alias@spec' }), null);
    assert.match(((await call('hello', { from_node: 7 })) as { error: string }).error, /^argument from_node/);
  });

  it('conf answers the resolved config with secrets hidden', async () => {
    const { call } = await setup('conf@spec');
    const conf = (await call('conf', { with_defaults: 'true' })) as Record<string, unknown>;
    assert.match(String(conf.broker), /^memory:\/\//);
    assert.equal(typeof conf.concurrency, 'number');
    assert.match(((await call('conf', { with_defaults: 'perhaps' })) as { error: string }).error, /^argument with_defaults/);
    const report = configReport({
      broker: 'amqp://user:s3cret@host:5672/vhost',
      backend: 'redis://:pw@cache:6379/0',
      note: 'see amqp://u:p@h/ and plain text',
      apiKey: 'k',
      redisPassword: 'p',
      nested: { token: 'abc', fine: 1 },
      __private: 1,
      fn: function named() {},
      limit: Infinity,
    });
    const text = JSON.stringify(report);
    for (const secret of ['s3cret', ':pw@', ':p@', '"k"', '"p"', 'abc']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.equal(report.broker, `amqp://user:${HIDDEN}@host:5672/vhost`);
    assert.equal(report.apiKey, HIDDEN);
    assert.deepEqual(report.nested, { token: HIDDEN, fine: 1 });
    assert.equal('__private' in report, false);
    assert.equal(report.fn, '<function named>');
    assert.equal(report.limit, 'Infinity');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.deepEqual(configReport(cyclic), { a: 1, self: '<Object>' });
  });

  it('memsample and memdump answer Node memory figures in Celery’s text', async () => {
    const { call } = await setup('mem@spec');
    const sample = await call('memsample');
    assert.match(String(sample), /^\d+(\.\d+)?(b|KB|MB|GB|TB)$/);
    await call('memsample');
    const dump = String(await call('memdump', { samples: 1 }));
    assert.match(dump, /^- rss \(sample\):\n-    > [\d.]+(b|KB|MB|GB)+,\n/);
    assert.match(dump, /- rss \(end\): [\d.]+(b|KB|MB|GB)\.\n/);
    assert.match(dump, /- heap used \(end\): /);
    assert.doesNotMatch(String(await call('memdump')), /sample/, 'readings are forgotten once dumped');
    assert.match(((await call('memdump', { samples: 'all' })) as { error: string }).error, /^argument samples/);
    assert.equal(humanBytes(512), '512b');
    assert.equal(humanBytes(1536), '1.5KB');
    assert.equal(humanBytes(47_407_104), '45.211MB');
  });

  it('enable_events / disable_events toggle task events; heartbeat sends one; without events they answer an error', async () => {
    let beats = 0;
    const events = {
      taskEvents: true,
      heartbeat: () => {
        beats++;
      },
    };
    const { call } = await setup('events@spec', { server: { events } });
    assert.deepEqual(await call('enable_events'), { ok: 'task events already enabled' });
    assert.deepEqual(await call('disable_events'), { ok: 'task events disabled' });
    assert.equal(events.taskEvents, false);
    assert.deepEqual(await call('disable_events'), { ok: 'task events already disabled' });
    assert.deepEqual(await call('enable_events'), { ok: 'task events enabled' });
    assert.equal(events.taskEvents, true);
    assert.deepEqual(await call('heartbeat'), { ok: 'heartbeat sent' });
    assert.equal(beats, 1);
    assert.equal(await call('election', { id: 'e1', topic: 'leader', action: null }), null);
    assert.match(((await call('election', { id: ['x'] })) as { error: string }).error, /^argument id/);
    const plain = await setup('no-events@spec');
    for (const method of ['enable_events', 'disable_events', 'heartbeat']) {
      assert.match(((await plain.call(method)) as { error: string }).error, /events are not enabled/);
    }
  });
});
