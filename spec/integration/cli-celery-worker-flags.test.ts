import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ControlClient, createApp, receiveEvents, type AsyncResult, type CeleryEvent } from '../../lib/index.js';
import { queueDeclaration } from '../../lib/app/queues.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { startCli, type RunningProcess } from '../support/processes.js';

const FLAGS_APP = new URL('../support/flags-app.js', import.meta.url).pathname;

interface Stats {
  prefetch_count: number;
  pool: { 'max-concurrency': number; 'max-tasks-per-child': number | string; timeouts: [number, number] };
  autoscaler?: { max: number; min: number; current: number; qty: number };
}

/** Waits for `condition` (polled), failing with `what` after a generous bound: conditions, never timings, decide. */
async function until(condition: () => boolean | Promise<boolean>, what: string, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `celeriac worker` flags from Celery's worker: each does what Celery's does, on RabbitMQ + Redis. */
describe("celeriac worker: Celery's pool, autoscale, optimization and event flags", () => {
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const producer = createApp({ broker: AMQP_URL, backend: REDIS_URL, logLevel: 'silent' });
  const client = new ControlClient(producer);
  const queues: string[] = [];
  const started: RunningProcess[] = [];

  after(async () => {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const name of queues) await producer.transport.deleteQueue(name).catch(() => undefined);
    await producer.close();
  });

  /** A queue of the test's own, declared as the worker declares it. */
  const queue = async (prefix: string): Promise<string> => {
    const name = uniqueName(prefix);
    queues.push(name);
    await producer.transport.declareQueue(queueDeclaration(name, producer.config));
    return name;
  };
  /** Starts a worker on `q` with the flags; resolves once it consumes, with its node name. */
  const worker = async (
    q: string,
    flags: string[],
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<{ node: string; process: RunningProcess }> => {
    const node = `flags-${randomUUID().slice(0, 8)}@spec`;
    const process = startCli(['worker', '-A', FLAGS_APP, '-Q', q, '-n', node, '-l', 'info', ...flags], { ...env, ...extraEnv });
    started.push(process);
    await process.waitFor(/ready: queues/, 60_000);
    return { node, process };
  };
  const send = (q: string, name: string, args: unknown[] = []): Promise<AsyncResult> => producer.sendTask(name, args, {}, { queue: q });
  const stats = async (node: string): Promise<Stats> => {
    const [reply] = await client.broadcast('stats', {}, { destination: [node], timeout: '10s' });
    const answer = reply?.[node] as Stats | undefined;
    assert.ok(answer, `${node} answered stats`);
    return answer;
  };
  const control = async (node: string, method: string, args: Record<string, unknown> = {}): Promise<unknown> =>
    (await client.broadcast(method, args, { destination: [node], timeout: '10s' }))[0]?.[node];
  const stop = async (p: RunningProcess): Promise<number | string> => {
    p.child.kill('SIGTERM');
    return p.exited;
  };

  it('--time-limit and --soft-time-limit apply to tasks without their own, shown as stats timeouts', async () => {
    const q = await queue('time-limits');
    const { node, process } = await worker(q, ['-c', '2', '--time-limit', '2', '--soft-time-limit', '0.5']);
    assert.deepEqual((await stats(node)).pool.timeouts, [0.5, 2]);
    const softly = await send(q, 'spec.flags.soft');
    assert.equal(await softly.get({ timeout: '60s' }), 'SoftTimeLimitExceeded');
    const long = await send(q, 'spec.flags.sleep', [600_000]);
    await assert.rejects(long.get({ timeout: '60s' }), /TimeLimitExceeded: hard time limit \(2s\) exceeded/);
    assert.equal(await stop(process), 0);
  });

  it('--max-tasks-per-child with -P threads: a thread is replaced after that many tasks (its id changes)', async () => {
    const q = await queue('max-tasks');
    const { node, process } = await worker(q, ['-P', 'threads', '-c', '1', '--max-tasks-per-child', '2']);
    assert.equal((await stats(node)).pool['max-tasks-per-child'], 2);
    const ids: unknown[] = [];
    for (let i = 0; i < 4; i++) ids.push(await (await send(q, 'spec.flags.thread')).get({ timeout: '60s' }));
    const [a, b, c, d] = ids as number[];
    assert.ok(a > 0, 'ran in a pool thread');
    assert.equal(a, b, 'the same thread for the first two tasks');
    assert.notEqual(c, b, 'a fresh thread after two');
    assert.equal(c, d);
    await process.waitFor(/threads pool: replacing thread \d+: it ran 2 tasks/);
    assert.equal(await stop(process), 0);
  });

  it('--max-memory-per-child with -P threads: the thread whose heap passed the limit finishes its task, then is replaced', async () => {
    const q = await queue('max-memory');
    const { process } = await worker(q, ['-P', 'threads', '-c', '1', '--max-memory-per-child', String(64 * 1024)]);
    const first = await (await send(q, 'spec.flags.thread')).get({ timeout: '60s' });
    assert.equal(await (await send(q, 'spec.flags.thread')).get({ timeout: '60s' }), first, 'under the limit: kept');
    assert.equal(await (await send(q, 'spec.flags.grow', [128])).get({ timeout: '60s' }), first, 'the task that crossed it completes');
    assert.notEqual(await (await send(q, 'spec.flags.thread')).get({ timeout: '60s' }), first, 'then a fresh thread');
    await process.waitFor(/replacing thread \d+: it holds \d+ KiB \(max-memory-per-child 65536 KiB\)/);
    assert.equal(await stop(process), 0);
  });

  it('--max-tasks-per-child with the async pool: the worker drains and exits with status 75 after that many tasks', async () => {
    const q = await queue('recycle');
    const { process } = await worker(q, ['-c', '1', '--max-tasks-per-child', '2']);
    await process.waitFor(/exits with status 75 for its supervisor/);
    const sent = [
      await send(q, 'spec.flags.add', [1, 1]),
      await send(q, 'spec.flags.add', [2, 2]),
      await send(q, 'spec.flags.add', [3, 3]),
    ];
    assert.equal(await sent[0].get({ timeout: '60s' }), 2);
    assert.equal(await sent[1].get({ timeout: '60s' }), 4);
    assert.equal(await process.exited, 75);
    assert.match(process.output(), /the worker ran 2 tasks \(max-tasks-per-child 2\): stopping/);
    assert.equal(await sent[2].state, 'PENDING');
    await until(async () => (await producer.transport.messageCount(q)) === 1, 'the third back in the queue, for a fresh worker');
  });

  it('--autoscale MAX,MIN: grows under a backlog, shrinks when idle, shown in stats; autoscale moves bounds and prefetch', async () => {
    const q = await queue('autoscale');
    const { node, process } = await worker(q, ['--autoscale', '1,3', '--prefetch-multiplier', '2'], { AUTOSCALE_KEEPALIVE: '1' });
    const initial = await stats(node);
    assert.deepEqual(initial.autoscaler, { max: 3, min: 1, current: 1, qty: 0 }, 'the larger is the max, as Celery reads it');
    assert.equal(initial.prefetch_count, 6, 'prefetch for max: 3 × 2');
    // Long enough that the backlog lasts well beyond a poll, however loaded the machine.
    const sent = await Promise.all(Array.from({ length: 6 }, () => send(q, 'spec.flags.sleep', [6000])));
    await until(async () => (await stats(node)).autoscaler?.current === 3, 'grown to max under the backlog');
    assert.equal((await stats(node)).pool['max-concurrency'], 3);
    for (const s of sent) await s.get({ timeout: '120s' });
    await until(async () => (await stats(node)).autoscaler?.current === 1, 'back to min once idle');
    assert.match(process.output(), /autoscaler: scaling up/);
    assert.match(process.output(), /autoscaler: scaling down/);

    assert.deepEqual(await control(node, 'autoscale', { max: 5, min: 2 }), { ok: 'autoscale now max=5 min=2' });
    const moved = await stats(node);
    assert.deepEqual(moved.autoscaler, { max: 5, min: 2, current: 2, qty: 0 });
    assert.equal(moved.prefetch_count, 10);
    assert.deepEqual(await control(node, 'pool_grow'), {
      error: 'pool_grow is not supported with autoscale. Adjust autoscale range instead.',
    });
    assert.equal(await stop(process), 0);
  });

  it('pool_grow re-applies the prefetch on RabbitMQ: tasks beyond the old prefetch are taken and run', async () => {
    const q = await queue('grow-prefetch');
    const { node, process } = await worker(q, ['-c', '1', '--prefetch-multiplier', '1']);
    // Each runs far longer than a poll takes, so the counts below hold while they are looked at.
    const sent = await Promise.all(Array.from({ length: 5 }, () => send(q, 'spec.flags.sleep', [10_000])));
    await until(async () => (await producer.transport.messageCount(q)) === 4, 'prefetch 1: four wait in the queue');
    assert.deepEqual(await control(node, 'pool_grow', { n: 2 }), { ok: 'pool will grow' });
    assert.equal((await stats(node)).prefetch_count, 3);
    // A consumer with prefetch 3 replaced the one with prefetch 1, whose delivery still runs.
    await until(async () => (await producer.transport.messageCount(q)) === 1, 'three more taken: one left in the queue');
    await until(async () => {
      const [reply] = await client.inspect('active', { destination: [node], timeout: '10s' });
      return ((reply?.[node] as unknown[] | undefined)?.length ?? 0) === 3;
    }, 'three running at once');
    for (const s of sent) assert.equal(await s.get({ timeout: '120s' }), 10_000);
    assert.equal(await stop(process), 0);
  });

  it('-Ofair: the worker takes from the broker only what it can start (prefetch = concurrency)', async () => {
    const q = await queue('fair');
    const { node, process } = await worker(q, ['-c', '2', '-Ofair']);
    assert.equal((await stats(node)).prefetch_count, 2);
    const sent = await Promise.all(Array.from({ length: 4 }, () => send(q, 'spec.flags.sleep', [8000])));
    await until(async () => {
      const [reply] = await client.inspect('active', { destination: [node], timeout: '10s' });
      return ((reply?.[node] as unknown[] | undefined)?.length ?? 0) === 2;
    }, 'two running');
    assert.equal(await producer.transport.messageCount(q), 2, 'the other two wait in the broker, free for other workers');
    for (const s of sent) await s.get({ timeout: '120s' });
    assert.equal(await stop(process), 0);
  });

  it('heartbeat flags: worker-* events at --heartbeat-interval, none --without-heartbeat; enable_events starts task events', async () => {
    const events: CeleryEvent[] = [];
    const receiver = await receiveEvents(producer, (event) => events.push(event));
    try {
      const q1 = await queue('heartbeat');
      const beating = await worker(q1, ['--heartbeat-interval', '1']);
      await until(() => events.filter((e) => e.hostname === beating.node && e.type === 'worker-heartbeat').length >= 2, 'two heartbeats');
      const beat = events.find((e) => e.hostname === beating.node && e.type === 'worker-heartbeat')!;
      assert.equal(beat.freq, 1);
      assert.ok(events.some((e) => e.hostname === beating.node && e.type === 'worker-online'));

      // No -E: no task events, until enable_events (as Flower sends it).
      const before = await send(q1, 'spec.flags.add', [1, 2]);
      assert.equal(await before.get({ timeout: '60s' }), 3);
      assert.deepEqual(await control(beating.node, 'enable_events'), { ok: 'task events enabled' });
      const afterwards = await send(q1, 'spec.flags.add', [2, 3]);
      assert.equal(await afterwards.get({ timeout: '60s' }), 5);
      await until(() => events.some((e) => e.type === 'task-succeeded' && e.uuid === afterwards.id), 'task events once enabled');
      // Both went out on the same channel in order: one sent for the first task would be here already.
      assert.deepEqual(
        events.filter((e) => e.uuid === before.id),
        [],
      );
      assert.equal(await stop(beating.process), 0);
      await until(() => events.some((e) => e.hostname === beating.node && e.type === 'worker-offline'), 'worker-offline on exit');

      const q2 = await queue('no-heartbeat');
      const quiet = await worker(q2, ['--without-heartbeat', '-E', '--without-gossip', '--without-mingle']);
      await quiet.process.waitFor(/--without-gossip: a celeriac worker takes part in no gossip/);
      await quiet.process.waitFor(/--without-mingle: a celeriac worker does not mingle/);
      const task = await send(q2, 'spec.flags.add', [3, 4]);
      assert.equal(await task.get({ timeout: '60s' }), 7);
      await until(() => events.some((e) => e.type === 'task-succeeded' && e.uuid === task.id), 'task events with -E');
      // worker-online would have been sent at start, before any task event of this worker.
      assert.deepEqual(
        events.filter((e) => e.hostname === quiet.node && e.type.startsWith('worker-')),
        [],
      );
      assert.equal(await stop(quiet.process), 0);
    } finally {
      await receiver.close();
    }
  });

  it('SIGHUP without -f: a warm shutdown (the running task finishes), then exit status 75 for the supervisor to restart it', async () => {
    const q = await queue('sighup');
    const { node, process } = await worker(q, ['-c', '1']);
    const running = await send(q, 'spec.flags.sleep', [8000]);
    await until(async () => {
      const [reply] = await client.inspect('active', { destination: [node], timeout: '10s' });
      return ((reply?.[node] as unknown[] | undefined)?.length ?? 0) === 1;
    }, 'the task running');
    process.child.kill('SIGHUP');
    assert.equal(await process.exited, 75);
    assert.equal(await running.get({ timeout: '60s' }), 8000, 'finished before the exit');
    assert.match(process.output(), /SIGHUP received: restarting: warm shutdown, then exit status 75/);
  });

  it('bad values fail fast naming the flag', async () => {
    const q = await queue('bad');
    for (const [flags, pattern] of [
      [['--autoscale', '3,x'], /--autoscale: expected MAX,MIN or MAX/],
      [['--autoscale', '0'], /--autoscale: the max must be at least 1/],
      [['--time-limit', '-1'], /--time-limit: expected seconds/],
      [['--max-tasks-per-child', '1.5'], /--max-tasks-per-child: expected a whole number/],
      [['--heartbeat-interval', '0'], /--heartbeat-interval: expected seconds above 0/],
      [['-O', 'fast'], /Invalid values:[\s\S]*Argument: O, Given: "fast", Choices: "default", "fair"/],
    ] as const) {
      const process = startCli(['worker', '-A', FLAGS_APP, '-Q', q, ...flags], env);
      started.push(process);
      assert.equal(await process.exited, 2, flags.join(' '));
      assert.match(process.output(), pattern);
    }
  });
});
