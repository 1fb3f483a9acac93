import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createApp, TaskFailedError } from '../../lib/index.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { AMQP_URL, REDIS_URL, realApp, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, runCli, startCli, type RunningProcess } from '../support/processes.js';

/** Remote control on RabbitMQ + Redis, through the CLI. */
describe('remote control (RabbitMQ + Redis, CLI)', () => {
  const queue = uniqueName('control');
  const node = `${uniqueName('node')}@spec`;
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  let worker: RunningProcess | undefined;
  after(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    const app = realApp();
    await app.transport.deleteQueue(queue).catch(() => undefined);
    await app.close();
  });

  it('a task revoked before any worker runs is not run by a worker started later (stored in Redis), and is REVOKED', async () => {
    const app = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, logLevel: 'silent' });
    try {
      const result = await app.sendTask('tasks.add', [1, 2]);
      const revoke = await runCli(['control', 'revoke', result.id, '-d', node, '--timeout', '200ms'], env);
      // Nobody listens yet: the revoke is stored all the same.
      assert.equal(revoke.code, 69, revoke.stderr);
      worker = startCli(['worker', '-A', EXAMPLE_TASKS, '-Q', queue, '-n', node, '-c', '2', '-l', 'info'], env);
      await worker.waitFor(/ready/);
      await assert.rejects(result.get({ timeout: '10s' }), (e: unknown) => e instanceof TaskFailedError && e.state === 'REVOKED');
      assert.equal(await (await app.sendTask('tasks.add', [2, 3])).get({ timeout: '10s' }), 5);
    } finally {
      await app.close();
    }
  });

  it('celeriac inspect ping / registered / revoked and control rate_limit reach the named worker', async () => {
    const ping = await runCli(['inspect', 'ping', '-d', node, '--timeout', '10s'], env);
    assert.equal(ping.code, 0, ping.stderr);
    assert.match(ping.stdout, new RegExp(`-> ${node.replaceAll('.', '\\.')}: OK\\n\\s+pong`));
    const registered = await runCli(['inspect', 'registered', '-d', node, '--timeout', '10s', '--json'], env);
    assert.deepEqual(JSON.parse(registered.stdout), { [node]: ['tasks.add', 'tasks.add_all', 'tasks.multiply'] });
    const revoked = await runCli(['inspect', 'revoked', '-d', node, '--timeout', '10s', '--json'], env);
    assert.equal((JSON.parse(revoked.stdout) as Record<string, string[]>)[node].length >= 1, true);
    const limit = await runCli(['control', 'rate_limit', 'tasks.add', '100/s', '-d', node, '--timeout', '10s'], env);
    assert.match(limit.stdout, /new rate limit set successfully/);
  });

  it('celeriac status lists the node as online, as celery status does; none answering exits 1', async () => {
    const status = await runCli(['status', '-d', node, '--timeout', '10s'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`-> ${node.replaceAll('.', '\\.')}: OK\\n\\s+pong\\n\\n1 node online\\.`));
    const nobody = await runCli(['status', '-d', 'nobody@nowhere', '--timeout', '300ms'], env);
    assert.equal(nobody.code, 69, 'EX_UNAVAILABLE, as celery status');
    assert.match(nobody.stderr, /No nodes replied within time constraint/);
  });

  it('control shutdown stops the worker', async () => {
    const app = realApp();
    try {
      await new ControlClient(app).shutdown({ destination: [node] });
      assert.equal(await worker!.exited, 0);
    } finally {
      await app.close();
    }
  });
});
