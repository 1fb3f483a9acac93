import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningProcess } from '../support/processes.js';
import {
  deleteFlowerQueues,
  flowerQueues,
  flowerUnavailable,
  startFlower,
  startFlowerWorker,
  stopFlower,
  stopProcess,
  until,
  type Flower,
} from './flower-peer.js';

/** A task as Flower's /api/task/info and /api/tasks answer it (Celery's event state, as JSON). */
interface FlowerTask {
  uuid: string;
  name: string;
  state: string;
  args: string;
  kwargs: string;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  retries: number | null;
  runtime: number | null;
  worker: string;
}

/** One worker as Flower's /api/workers answers it: the replies to its inspect commands. */
interface FlowerWorker {
  stats: {
    pid: number;
    pool: Record<string, unknown>;
    autoscaler?: Record<string, number>;
    broker: Record<string, unknown>;
    total: Record<string, number>;
    prefetch_count: number;
  };
  registered: string[];
  active_queues: { name: string }[];
  conf: Record<string, unknown>;
  revoked: string[];
  reserved: { id: string }[];
  active: { id: string }[];
}

const skip = flowerUnavailable();
if (skip) console.warn(`\n*** interop: Flower specs SKIPPED: ${skip} ***\n`);

/**
 * Flower 2.0.1 watching a celeriac worker (`celeriac worker -E`): every page's data and every
 * button's action, through Flower's REST API (the endpoints its pages and buttons call). The
 * tests run in order on one worker: the last one shuts it down.
 */
describe('interop: Flower 2.0.1 REST API against a celeriac worker', { skip: skip ?? false }, () => {
  const queues = flowerQueues('flower-api');
  let flower: Flower;
  let worker: { process: RunningProcess; name: string };

  /** The worker as Flower sees it after asking it again (its inspect replies). */
  const refreshed = async (): Promise<FlowerWorker> =>
    (await flower.json<Record<string, FlowerWorker>>(`/api/workers?refresh=1&workername=${encodeURIComponent(worker.name)}`))[worker.name];
  /**
   * Asks again until what Flower shows of the worker satisfies `check`: Flower keeps a field as
   * it was when its inspect reply does not come within --inspect_timeout (a loaded machine).
   */
  const workerUntil = (what: string, check: (seen: FlowerWorker) => boolean): Promise<FlowerWorker> =>
    until(what, async () => {
      const seen = await refreshed();
      return check(seen) ? seen : undefined;
    });
  const taskInfo = (id: string): Promise<FlowerTask> => flower.json<FlowerTask>(`/api/task/info/${id}`);
  /** Waits until Flower's event state has the task in `state`. */
  const taskIn = (id: string, state: string): Promise<FlowerTask> =>
    until(`task ${id} ${state} in Flower`, async () => {
      const task = await taskInfo(id);
      return task.state === state ? task : undefined;
    });
  const sendTask = async (name: string, body: Record<string, unknown>): Promise<string> => {
    const sent = await flower.post(`/api/task/send-task/${name}`, { json: { queue: queues.node, ...body } });
    assert.equal(sent.status, 200, `${sent.status} ${sent.text}\nFlower's log:\n${flower.tail()}`);
    return (JSON.parse(sent.text) as { 'task-id': string })['task-id'];
  };

  before(async () => {
    worker = startFlowerWorker(queues);
    [flower] = await Promise.all([startFlower(queues), worker.process.waitFor(/ready: queues/, 30_000)]);
    // Flower knows a worker once it answered an inspect (its startup one may have come first).
    await until('the worker listed by Flower', async () => (await refreshed().catch(() => undefined))?.stats);
    // Flower hears events once its event queue is bound: the worker's heartbeats (every 2 s) say when.
    await until(
      'the worker’s events reaching Flower',
      async () => (await flower.json<Record<string, boolean>>('/api/workers?status=1'))[worker.name],
    );
  });

  after(async () => {
    await stopProcess(worker?.process);
    await stopFlower(flower);
    await deleteFlowerQueues(queues);
  });

  it('workers: stats, registered tasks, active queues, config and status', async () => {
    const seen = await workerUntil('every inspect answered', (w) => Boolean(w.stats && w.registered && w.active_queues && w.conf));
    assert.equal(seen.stats.pid, worker.process.child.pid);
    assert.equal(seen.stats.pool['max-concurrency'], 2);
    assert.equal(seen.stats.broker.hostname, '127.0.0.1');
    assert.equal(seen.stats.broker.transport, 'amqp');
    assert.equal(seen.stats.broker.port, 5672);
    assert.equal(seen.stats.broker.virtual_host, '/');
    assert.doesNotMatch(JSON.stringify(seen), /guest:guest@/, 'no password in what Flower shows');
    assert.deepEqual(seen.registered, ['node.add', 'node.fail', 'node.retry_once', 'node.sleep']);
    assert.deepEqual(
      seen.active_queues.map((q) => q.name),
      [queues.node],
    );
    assert.equal(seen.conf.defaultQueue, queues.node);
    assert.equal((await flower.json<Record<string, boolean>>('/api/workers?status=1'))[worker.name], true);
    // The workers page's table (/workers?json=1): the row built from the worker's events.
    const rows = (await flower.json<{ data: Record<string, unknown>[] }>('/workers?json=1')).data;
    const row = rows.find((r) => r.hostname === worker.name);
    assert.ok(row, `a row for ${worker.name} in ${JSON.stringify(rows)}`);
    assert.equal(row.status, true);
    assert.equal(row.sw_ident, 'celeriac');
    assert.equal(row.freq, 2);
    assert.ok(Array.isArray(row.loadavg) && (row.loadavg as unknown[]).length === 3);
  });

  it('tasks: received, started, succeeded, failed with traceback, retried; args, kwargs and result; results from Redis', async () => {
    // async-apply needs the task's name in Flower's app (tasks.py's stub routes it to the queue); send-task does not.
    const applied = await flower.post('/api/task/async-apply/node.add', { json: { args: [2, 3] } });
    assert.equal(applied.status, 200, applied.text);
    const addId = (JSON.parse(applied.text) as { 'task-id': string })['task-id'];
    const kwargsId = await sendTask('node.add', { kwargs: { x: 1, y: 2 } });
    // apply: sent, then Flower waits for the result in Redis.
    const waited = await flower.post('/api/task/apply/node.add', { json: { args: [4, 5] } });
    assert.equal(waited.status, 200, waited.text);
    assert.deepEqual(JSON.parse(waited.text), {
      'task-id': (JSON.parse(waited.text) as { 'task-id': string })['task-id'],
      state: 'SUCCESS',
      result: 9,
    });
    const failId = await sendTask('node.fail', { args: ['boom'] });
    const retryId = await sendTask('node.retry_once', {});

    const added = await taskIn(addId, 'SUCCESS');
    assert.equal(added.name, 'node.add');
    assert.equal(added.args, '[2, 3]');
    assert.equal(added.result, '5');
    assert.equal(added.worker, worker.name);
    for (const field of ['received', 'started', 'succeeded', 'runtime'] as const) assert.equal(typeof added[field], 'number', field);
    assert.ok(added.received! <= added.started! && added.started! <= added.succeeded!);
    const withKwargs = await taskIn(kwargsId, 'SUCCESS');
    assert.equal(withKwargs.kwargs, "{'x': 1, 'y': 2}");
    assert.equal(withKwargs.result, '3');

    const failed = await taskIn(failId, 'FAILURE');
    assert.equal(failed.exception, 'TypeError("boom")');
    assert.match(failed.traceback!, /^TypeError: boom\n\s+at /);
    assert.equal(typeof failed.failed, 'number');

    // Retried at once: the new run may start before the broker confirmed it; Flower must still end on SUCCESS.
    const retried = await taskIn(retryId, 'SUCCESS');
    assert.equal(typeof retried.retried, 'number');
    assert.equal(retried.retries, 1);
    assert.equal(retried.result, '1');

    const listed = await flower.json<Record<string, FlowerTask>>(`/api/tasks?workername=${encodeURIComponent(worker.name)}`);
    for (const id of [addId, kwargsId, failId, retryId]) assert.ok(listed[id], `${id} in /api/tasks`);
    assert.deepEqual(
      Object.values(
        await flower.json<Record<string, FlowerTask>>(
          `/api/tasks?state=FAILURE&taskname=node.fail&workername=${encodeURIComponent(worker.name)}`,
        ),
      ).map((t) => t.uuid),
      [failId],
    );
    const types = (await flower.json<{ 'task-types': string[] }>('/api/task/types'))['task-types'];
    for (const name of ['node.add', 'node.fail', 'node.retry_once']) assert.ok(types.includes(name), name);

    // GET /api/task/result reads the Redis backend celeriac wrote.
    assert.deepEqual(await flower.json(`/api/task/result/${addId}`), { 'task-id': addId, state: 'SUCCESS', result: 5 });
    const failure = await flower.json<{ state: string; result: string; traceback: string }>(`/api/task/result/${failId}`);
    assert.equal(failure.state, 'FAILURE');
    assert.equal(failure.result, "TypeError('boom')");
    assert.match(failure.traceback, /TypeError: boom/);
  });

  it('revoke: a running task terminated, a waiting one never run; both in the worker’s revoked list', async () => {
    const runningId = await sendTask('node.sleep', { args: [120_000] });
    await taskIn(runningId, 'STARTED');
    const terminated = await flower.post(`/api/task/revoke/${runningId}?terminate=true`);
    assert.deepEqual([terminated.status, JSON.parse(terminated.text)], [200, { message: `Revoked '${runningId}'` }]);
    const revoked = await taskIn(runningId, 'REVOKED');
    assert.equal(typeof revoked.revoked, 'number');
    assert.equal((await flower.json<{ state: string }>(`/api/task/result/${runningId}`)).state, 'REVOKED');

    // Revoked before it arrives (Flower's plain revoke sends terminate=0): recorded REVOKED, never run.
    const laterId = randomUUID();
    assert.equal((await flower.post(`/api/task/revoke/${laterId}`)).status, 200);
    await workerUntil('the revoke applied', (w) => w.revoked.includes(laterId));
    await sendTask('node.add', { args: [1, 1], task_id: laterId });
    assert.equal((await taskIn(laterId, 'REVOKED')).started, null, 'never started');
    await workerUntil('the terminated task in the revoked list', (w) => w.revoked.includes(runningId));
  });

  it('rate limit and time limits set from Flower apply to the next runs', async () => {
    const form = (fields: Record<string, string | number>) => ({ ...fields, workername: worker.name });
    const limited = await flower.post('/api/task/rate-limit/node.add', form({ ratelimit: '1/h' }));
    assert.deepEqual([limited.status, JSON.parse(limited.text)], [200, { message: 'new rate limit set successfully' }]);
    const first = await sendTask('node.add', { args: [1, 2] });
    await taskIn(first, 'SUCCESS');
    const held = await sendTask('node.add', { args: [3, 4] });
    await taskIn(held, 'RECEIVED');
    await workerUntil('the held task reserved by the worker', (w) => w.reserved.some((r) => r.id === held));
    const lifted = await flower.post('/api/task/rate-limit/node.add', form({ ratelimit: '0' }));
    assert.deepEqual([lifted.status, JSON.parse(lifted.text)], [200, { message: 'rate limit disabled successfully' }]);
    assert.equal((await taskIn(held, 'SUCCESS')).result, '7');
    // The worker page's Limits tab sends a bare number (parseInt of its field): per second, as Celery reads it.
    const perSecond = await flower.post('/api/task/rate-limit/node.add', form({ ratelimit: 1000 }));
    assert.deepEqual([perSecond.status, JSON.parse(perSecond.text)], [200, { message: 'new rate limit set successfully' }]);
    assert.equal((await flower.post('/api/task/rate-limit/node.add', form({ ratelimit: '0' }))).status, 200);

    const limits = await flower.post('/api/task/timeout/node.sleep', form({ soft: 0.5, hard: 1 }));
    assert.deepEqual([limits.status, JSON.parse(limits.text)], [200, { message: 'time limits set successfully' }]);
    const slow = await sendTask('node.sleep', { args: [60_000] });
    assert.match((await taskIn(slow, 'FAILURE')).exception!, /^(Soft)?TimeLimitExceeded/);
    // Neither limit given: both removed, as Celery's time_limit does.
    assert.equal((await flower.post('/api/task/timeout/node.sleep', form({}))).status, 200);
    assert.equal((await taskIn(await sendTask('node.sleep', { args: [1500] }), 'SUCCESS')).result, '1500');
  });

  it('pool: grow, shrink, autoscale (then grow refused), restart refused with the reason', async () => {
    const name = encodeURIComponent(worker.name);
    const grown = await flower.post(`/api/worker/pool/grow/${name}?n=3`);
    assert.deepEqual([grown.status, JSON.parse(grown.text)], [200, { message: `Growing '${worker.name}' worker's pool by 3` }]);
    await workerUntil('pool size 5', (w) => w.stats.pool['max-concurrency'] === 5);
    const shrunk = await flower.post(`/api/worker/pool/shrink/${name}?n=2`);
    assert.deepEqual([shrunk.status, JSON.parse(shrunk.text)], [200, { message: `Shrinking '${worker.name}' worker's pool by 2` }]);
    await workerUntil('pool size 3', (w) => w.stats.pool['max-concurrency'] === 3);
    const scaled = await flower.post(`/api/worker/pool/autoscale/${name}?min=4&max=6`);
    assert.equal(scaled.status, 200, scaled.text);
    const { stats } = await workerUntil('the autoscaler in stats', (w) => w.stats.autoscaler !== undefined);
    // Celery's Autoscaler.info(): `current` is the pool's size, `qty` the tasks taken and not finished (none here).
    assert.deepEqual(stats.autoscaler, { max: 6, min: 4, current: 4, qty: 0 });
    assert.equal(stats.pool['max-concurrency'], 4);
    const refused = await flower.post(`/api/worker/pool/grow/${name}?n=1`);
    assert.deepEqual(
      [refused.status, refused.text],
      [403, `Failed to grow '${worker.name}' worker's pool: pool_grow is not supported with autoscale. Adjust autoscale range instead.`],
    );
    const restart = await flower.post(`/api/worker/pool/restart/${name}`);
    assert.equal(restart.status, 403);
    assert.match(
      restart.text,
      new RegExp(`^Failed to restart the '${worker.name}' pool: pool_restart is not supported by celeriac workers`),
    );
  });

  it('queues: add and cancel a consumer; the added queue is consumed', async () => {
    const name = encodeURIComponent(worker.name);
    const added = await flower.post(`/api/worker/queue/add-consumer/${name}?queue=${queues.extra}`);
    assert.deepEqual([added.status, JSON.parse(added.text)], [200, { message: `add consumer ${queues.extra}` }]);
    await workerUntil('the added queue consumed', (w) => w.active_queues.map((q) => q.name).join() === [queues.node, queues.extra].join());
    const sent = await flower.post('/api/task/send-task/node.add', { json: { args: [20, 22], queue: queues.extra } });
    const id = (JSON.parse(sent.text) as { 'task-id': string })['task-id'];
    assert.equal((await taskIn(id, 'SUCCESS')).worker, worker.name);
    const cancelled = await flower.post(`/api/worker/queue/cancel-consumer/${name}?queue=${queues.extra}`);
    assert.deepEqual([cancelled.status, JSON.parse(cancelled.text)], [200, { message: `no longer consuming from ${queues.extra}` }]);
    await workerUntil('the queue no longer consumed', (w) => w.active_queues.map((q) => q.name).join() === queues.node);
    const unknown = await flower.post(`/api/worker/queue/cancel-consumer/${name}?queue=${queues.extra}`);
    assert.deepEqual(
      [unknown.status, unknown.text],
      [403, `Failed to cancel '${queues.extra}' consumer from '${worker.name}' worker: not consuming from ${queues.extra}`],
    );
  });

  it("the broker page's data: the worker's queue with its message and consumer counts (RabbitMQ's management API)", async () => {
    // The management API's figures are sampled (every 5 s): asked until the queue is in with its consumer.
    const queue = await until('the queue in /api/queues/length', async () => {
      const { active_queues: listed } = await flower.json<{ active_queues: { name: string; messages: number; consumers: number }[] }>(
        '/api/queues/length',
      );
      return listed.find((q) => q.name === queues.node && q.consumers === 1);
    });
    assert.equal(typeof queue.messages, 'number');
  });

  it('Prometheus metrics carry the worker’s events', async () => {
    const text = await (await flower.fetch('/metrics')).text();
    const value = (metric: string, labels: string): number => {
      const match = new RegExp(`^${metric}\\{${labels}\\} (\\S+)$`, 'm').exec(text);
      assert.ok(match, `${metric}{${labels}} in /metrics`);
      return Number(match[1]);
    };
    const w = `worker="${worker.name}"`;
    // node.add: async-apply, kwargs, apply, revoked before it ran, rate limited twice, the added queue.
    assert.equal(value('flower_events_total', `task="node.add",type="task-received",${w}`), 7);
    assert.equal(value('flower_events_total', `task="node.add",type="task-succeeded",${w}`), 6);
    assert.equal(value('flower_events_total', `task="node.add",type="task-revoked",${w}`), 1);
    assert.equal(value('flower_events_total', `task="node.fail",type="task-failed",${w}`), 1);
    assert.equal(value('flower_events_total', `task="node.retry_once",type="task-retried",${w}`), 1);
    assert.equal(value('flower_events_total', `task="node.sleep",type="task-revoked",${w}`), 1);
    assert.equal(value('flower_task_runtime_seconds_count', `task="node.add",${w}`), 6);
    assert.equal(value('flower_worker_online', w), 1);
    // Set from the worker's heartbeats (every 2 s): 0 once one was sent with nothing running.
    await until('no task executing, by the heartbeats', async () =>
      /^flower_worker_number_of_currently_executing_tasks\{worker="[^"]+"\} 0\.0$/m.test(await (await flower.fetch('/metrics')).text()),
    );
  });

  it('shut down: the worker exits cleanly and Flower marks it offline', async () => {
    const down = await flower.post(`/api/worker/shutdown/${encodeURIComponent(worker.name)}`);
    assert.deepEqual([down.status, JSON.parse(down.text)], [200, { message: 'Shutting down!' }]);
    assert.equal(await worker.process.exited, 0);
    await until('the worker offline in Flower', async () => (await flower.json(`/api/workers?status=1`))[worker.name] === false);
    const metrics = await (await flower.fetch('/metrics')).text();
    assert.match(metrics, new RegExp(`^flower_worker_online\\{worker="${worker.name}"\\} 0\\.0$`, 'm'));
  });
});
