import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createApp, TaskFailedError, type App } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, runCli, startCli, type RunningProcess } from '../support/processes.js';

/**
 * The user's walkthrough, as processes: two `celeriac worker` daemons on the example tasks
 * module share one queue on RabbitMQ; another process sends with sendTask and the CLI; the
 * results are in Redis under Celery's keys.
 */
describe('walkthrough: two CLI workers, RabbitMQ and Redis', () => {
  const queue = uniqueName('walkthrough');
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  let workers: RunningProcess[] = [];
  let producer: App;
  let redis: Redis;

  before(async () => {
    workers = [
      startCli(['worker', '-A', EXAMPLE_TASKS, '--concurrency=4', '--loglevel=info', '-Q', queue, '-n', 'first@%h'], env),
      startCli(['worker', '-A', EXAMPLE_TASKS, '-c', '2', '-l', 'info', '-Q', queue, '-n', 'second@%h'], env),
    ];
    await Promise.all(workers.map((w) => w.waitFor(/ready: queues/)));
    producer = createApp({ name: 'spec-producer', broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, logLevel: 'silent' });
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await producer.transport.purge(queue).catch(() => 0);
    await producer.close();
    redis.disconnect();
  });

  it('both workers start with the banner naming queue, concurrency and broker without password', () => {
    assert.match(
      workers[0].output(),
      new RegExp(`first@\\S+ ready: queues ${queue.replaceAll('.', '\\.')}; concurrency 4; prefetch 64; broker amqp://guest:\\*\\*\\*@`),
    );
    assert.match(workers[1].output(), /second@\S+ ready: .*concurrency 2; prefetch 64/);
    for (const worker of workers) assert.doesNotMatch(worker.output(), /guest:guest/);
  });

  it('runs add and multiply sent from another process, shared between the two workers', async () => {
    const sums = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.sendTask<number>('tasks.add', [i, 1])));
    const products = await Promise.all(Array.from({ length: 10 }, (_, i) => producer.sendTask<number>('tasks.multiply', [i, 3])));
    assert.deepEqual(
      await Promise.all(sums.map((r) => r.get({ timeout: '20s' }))),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      await Promise.all(products.map((r) => r.get({ timeout: '20s' }))),
      Array.from({ length: 10 }, (_, i) => i * 3),
    );
    const ids = [...sums, ...products].map((r) => r.id);
    // A worker logs "succeeded" after storing and acking, so the last lines may trail the results.
    const servedBy = (w: RunningProcess): number => ids.filter((id) => w.output().includes(`[${id}] succeeded in`)).length;
    for (let waited = 0; servedBy(workers[0]) + servedBy(workers[1]) < 50 && waited < 5000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const served = workers.map(servedBy);
    assert.equal(served[0] + served[1], 50, 'every task logged as succeeded exactly by one worker');
    assert.ok(served[0] > 0 && served[1] > 0, `both workers served tasks (${served.join(' / ')})`);
  });

  it('stores the result in Redis under celery-task-meta-<id>, as Celery does', async () => {
    const result = await producer.sendTask<number>('tasks.add', [2, 3]);
    assert.equal(await result.get({ timeout: '20s' }), 5);
    const raw = await redis.get(`celery-task-meta-${result.id}`);
    assert.ok(raw, 'the key exists');
    const stored = JSON.parse(raw) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored), ['status', 'result', 'traceback', 'children', 'date_done', 'task_id']);
    assert.equal(stored.status, 'SUCCESS');
    assert.equal(stored.result, 5);
    assert.equal(stored.task_id, result.id);
    assert.match(String(stored.date_done), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const ttl = await redis.ttl(`celery-task-meta-${result.id}`);
    assert.ok(ttl > 86_000 && ttl <= 86_400, `expires in a day (ttl ${ttl})`);
  });

  it('passes Python-style keyword arguments by argNames', async () => {
    const result = await producer.sendTask<number>('tasks.add', [], { x: 4, y: 6 });
    assert.equal(await result.get({ timeout: '20s' }), 10);
  });

  it('reports a failure with the remote type and message', async () => {
    const result = await producer.sendTask('tasks.add', [1], { z: 2 });
    await assert.rejects(result.get({ timeout: '20s' }), (error: unknown) => {
      assert.ok(error instanceof TaskFailedError);
      assert.equal(error.excType, 'TypeError');
      assert.match(error.excMessage, /unexpected keyword argument 'z'/);
      return true;
    });
  });

  it('`celeriac call --wait` prints the result', async () => {
    const { code, stdout, stderr } = await runCli(
      ['call', 'tasks.multiply', '--args', '[6, 7]', '-Q', queue, '--wait', '--timeout', '20s'],
      env,
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '42');
  });

  it('`celeriac call` without --wait prints the task id, and the result arrives', async () => {
    const { code, stdout, stderr } = await runCli(['call', 'tasks.add', '--args', '[20, 22]', '-Q', queue], env);
    assert.equal(code, 0, stderr);
    const id = stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(await producer.asyncResult(id).get({ timeout: '20s' }), 42);
  });

  it('SIGTERM stops both workers gracefully', async () => {
    for (const worker of workers) worker.child.kill('SIGTERM');
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0]);
    for (const worker of workers) assert.match(worker.output(), /warm shutdown[\s\S]*stopped/);
  });
});

describe('CLI', () => {
  it('--version and --help', async () => {
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
    for (const command of ['worker', 'call', 'purge', 'demo']) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0, `${command} --help`);
      assert.match(help.stdout, new RegExp(`celeriac ${command}`));
    }
  });

  it('`demo` runs the walkthrough on the embedded memory:// broker', async () => {
    const { code, stdout, stderr } = await runCli(['demo'], { CELERIAC_BROKER_URL: '', CELERIAC_RESULT_BACKEND: '' });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /broker memory:\/\/demo/);
    assert.match(stdout, /add\.delay\(2, 3\).*→ 5\n/);
    assert.match(stdout, /chain\(multiply\.s\(2, 2\), add\.s\(10\)\)\s+→ 14\n/);
    assert.match(stdout, /group\(multiply\.s\(2, 2\), multiply\.s\(3, 2\)\)\s+→ \[4,6\]\n/);
    assert.match(stdout, /chord\(.*addAll\.s\(\)\)\s+→ 10\n/);
  });

  it('an unknown flag fails fast, naming it', async () => {
    const { code, stderr } = await runCli(['worker', '-A', EXAMPLE_TASKS, '--concurrancy=4']);
    assert.equal(code, 2);
    assert.match(stderr, /Unknown argument: concurrancy/);
  });

  it('-A takes a file path without ./ as well', async () => {
    const queue = uniqueName('relative-app');
    const relativePath = relative(process.cwd(), EXAMPLE_TASKS);
    assert.ok(!relativePath.startsWith('.'), `${relativePath} is a bare relative path`);
    const { code, stdout, stderr } = await runCli(['call', 'tasks.add', '--args', '[1, 2]', '-A', relativePath, '-Q', queue], {
      CELERIAC_BROKER_URL: AMQP_URL,
      CELERIAC_RESULT_BACKEND: REDIS_URL,
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout.trim(), /^[0-9a-f-]{36}$/);
    const app = createApp({ broker: AMQP_URL, backend: null, logLevel: 'silent' });
    try {
      assert.equal(await app.transport.purge(queue), 1);
      await app.transport.deleteQueue(queue);
    } finally {
      await app.close();
    }
  });

  it('a module without an app fails with a clear message', async () => {
    const { code, stderr } = await runCli(['worker', '-A', new URL('../support/processes.js', import.meta.url).pathname]);
    assert.equal(code, 2);
    assert.match(stderr, /--app: .* exports no app/);
  });

  it('a worker whose broker is down retries, naming host and port but not the password', async () => {
    const worker = startCli(['worker', '-A', EXAMPLE_TASKS, '-l', 'info'], {
      CELERIAC_BROKER_URL: 'amqp://guest:s3cret@127.0.0.1:1',
      CELERIAC_RESULT_BACKEND: REDIS_URL,
    });
    try {
      await worker.waitFor(/unreachable[\s\S]*retry 2 in/);
      assert.match(worker.output(), /broker amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1 unreachable \(.*ECONNREFUSED.*\); retry 1 in \d/);
      assert.doesNotMatch(worker.output(), /s3cret/);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
  });

  it('`purge --force` empties the queue and reports how many', async () => {
    const queue = uniqueName('purge');
    const app = createApp({ broker: AMQP_URL, backend: null, defaultQueue: queue, logLevel: 'silent' });
    try {
      for (let i = 0; i < 3; i++) await app.sendTask('tasks.add', [i, i]);
      const refused = await runCli(['purge', '-Q', queue, '--broker', AMQP_URL]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /--force/);
      assert.equal(await app.transport.messageCount(queue), 3);
      const { code, stdout, stderr } = await runCli(['purge', '-Q', queue, '--force', '--broker', AMQP_URL]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, new RegExp(`${queue.replaceAll('.', '\\.')}: 3 message\\(s\\) purged`));
      assert.equal(await app.transport.messageCount(queue), 0);
    } finally {
      await app.close();
    }
  });
});
