import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApp, type App } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, takeMessages, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, runCli, startCli, type RunningProcess } from '../support/processes.js';

/**
 * `celeriac call --chain / --group / --chord-body`: canvases built from Celery signature dicts on
 * the command line, run by a `celeriac worker` on the example tasks, with redis:// and rpc://.
 */
describe('celeriac call with canvas', () => {
  const queues = { redis: uniqueName('cli-canvas.redis'), rpc: uniqueName('cli-canvas.rpc') };
  const brokerEnv = { CELERIAC_BROKER_URL: AMQP_URL };
  const redisEnv = { ...brokerEnv, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const rpcEnv = { ...brokerEnv, CELERIAC_RESULT_BACKEND: 'rpc://' };
  let workers: RunningProcess[] = [];
  let producer: App;

  const sig = (task: string, ...args: unknown[]) => ({ task: `tasks.${task}`, args });
  const call = (args: string[], env: NodeJS.ProcessEnv = redisEnv, queue = queues.redis) =>
    runCli(['call', ...args, '-A', EXAMPLE_TASKS, '-Q', queue, '--timeout', '20s'], env);
  const waited = async (args: string[], env?: NodeJS.ProcessEnv, queue?: string): Promise<unknown> => {
    const { code, stdout, stderr } = await call([...args, '--wait'], env, queue);
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout);
  };

  before(async () => {
    workers = [
      startCli(['worker', '-A', EXAMPLE_TASKS, '-c', '4', '-Q', queues.redis, '-l', 'info', '--no-control'], redisEnv),
      startCli(['worker', '-A', EXAMPLE_TASKS, '-c', '4', '-Q', queues.rpc, '-l', 'info', '--no-control'], rpcEnv),
    ];
    await Promise.all(workers.map((w) => w.waitFor(/ready: queues/)));
    producer = createApp({ name: 'spec-cli-canvas', broker: AMQP_URL, backend: REDIS_URL, logLevel: 'silent' });
  });

  after(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    for (const queue of Object.values(queues)) await producer.transport.deleteQueue(queue).catch(() => undefined);
    await producer.close();
  });

  it("--chain '[multiply(2, 2), add(10)]' --wait prints 14", async () => {
    assert.equal(await waited(['--chain', JSON.stringify([sig('multiply', 2, 2), sig('add', 10)])]), 14);
  });

  it('--group --wait prints the results in group order', async () => {
    assert.deepEqual(
      await waited(['--group', JSON.stringify([sig('multiply', 2, 2), sig('multiply', 3, 2), sig('add', 1, 1)])]),
      [4, 6, 2],
    );
  });

  it('--group with --chord-body is a chord: the body gets the header results', async () => {
    assert.equal(
      await waited([
        '--group',
        JSON.stringify([sig('multiply', 2, 2), sig('multiply', 3, 2)]),
        '--chord-body',
        JSON.stringify(sig('add_all')),
      ]),
      10,
    );
  });

  it('--args go to the first task, before its own arguments', async () => {
    assert.equal(await waited(['--chain', JSON.stringify([sig('multiply', 3), sig('add', 1)]), '--args', '[5]']), 16);
  });

  it('nested Celery dicts: a chain holding a group becomes a chord, as in Celery', async () => {
    const group = { task: 'celery.group', subtask_type: 'group', kwargs: { tasks: [sig('add', 1), sig('add', 2)] } };
    // multiply(1, 2) = 2 → [add(2, 1), add(2, 2)] = [3, 4] → add_all = 7
    assert.equal(await waited(['--chain', JSON.stringify([sig('multiply', 1, 2), group, sig('add_all')])]), 7);
  });

  it("without --wait it prints the canvas' result id: the chain's last step", async () => {
    const { code, stdout, stderr } = await call(['--chain', JSON.stringify([sig('multiply', 6, 7), sig('add', 0)])]);
    assert.equal(code, 0, stderr);
    const id = stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(await producer.asyncResult(id).get({ timeout: '20s' }), 42);
  });

  it('with rpc://: a chain and a chord send their results back to the calling process', async () => {
    assert.equal(await waited(['--chain', JSON.stringify([sig('multiply', 2, 2), sig('add', 10)])], rpcEnv, queues.rpc), 14);
    const header = Array.from({ length: 20 }, (_, i) => sig('add', i, i));
    assert.equal(
      await waited(['--group', JSON.stringify(header), '--chord-body', JSON.stringify(sig('add_all'))], rpcEnv, queues.rpc),
      380,
    );
  });

  it('--delivery-mode transient sends the message transient (AMQP delivery mode 1); the default is persistent', async () => {
    const queue = uniqueName('cli-delivery-mode');
    try {
      for (const mode of ['transient', undefined]) {
        const { code, stderr } = await call(['tasks.add', '--args', '[2, 3]', ...(mode ? ['--delivery-mode', mode] : [])], redisEnv, queue);
        assert.equal(code, 0, stderr);
      }
      const [transient, persistent] = await takeMessages(producer.transport, queue, 2);
      assert.equal(transient.properties.persistent, false);
      assert.equal(persistent.properties.persistent, true);
    } finally {
      await producer.transport.deleteQueue(queue).catch(() => undefined);
    }
  });

  it('refuses what is not a canvas, naming the option', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['tasks.add', '--chain', JSON.stringify([sig('add', 1, 2)])], /exactly one/],
      [['--chord-body', JSON.stringify(sig('add_all'))], /--chord-body.*--group/],
      [['--chain', '[]'], /--chain.*non-empty/],
      [['--group', '[{"args": [1]}]'], /--group\[0\].*signature dict/],
      [['--chain', '{"task": "tasks.add"}'], /--chain/],
      [['--group', '[{"task": "tasks.add"}]', '--chord-body', 'nope'], /--chord-body.*JSON/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await call(args);
      assert.notEqual(code, 0, `${args.join(' ')} was accepted`);
      assert.match(stderr, message);
    }
  });
});
