import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createApp, type App, type Worker } from '../../lib/index.js';
import type { TaskMessage } from '../../lib/protocol/task-message.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { defineNodeTasks } from './node-tasks.js';
import { deleteQueues, pythonProducer, type InteropQueues, type PythonOutcome } from './python-peer.js';

/**
 * Python → Node: Python Celery producers (producer.py) call tasks that only celeriac workers
 * serve, and read the results with Celery's own AsyncResult.get() through Redis.
 */
describe('interop: Python Celery producer → celeriac workers (redis:// results)', () => {
  const queues: InteropQueues = { py: uniqueName('interop-p2n.py'), node: uniqueName('interop-p2n.node') };
  let app: App;
  let redis: Redis;
  let workers: Worker[] = [];
  let node: ReturnType<typeof defineNodeTasks>;
  /** Every message the celeriac workers received, by task id, as decoded. */
  const received = new Map<string, { message: TaskMessage; contentType: string | undefined }>();
  /** Task ids whose delivery is settled (outcome stored, workflow continued, acked). */
  const settled = new Set<string>();

  before(async () => {
    app = createApp({ name: 'interop-p2n', broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queues.node, logLevel: 'silent' });
    redis = new Redis(REDIS_URL);
    node = defineNodeTasks(app, queues.node, redis);
    workers = [0, 1].map((i) => app.worker({ concurrency: 4, queues: [queues.node], hostname: `p2n${i}@%h`, shutdownTimeout: '5s' }));
    for (const worker of workers) {
      worker.on('task-received', (request) =>
        received.set(request.id, { message: request.message, contentType: request.delivery.properties.contentType }),
      );
      worker.on('task-done', (request) => settled.add(request.id));
      await worker.start();
    }
  });

  after(async () => {
    for (const worker of workers) await worker.stop();
    await app.close();
    redis.disconnect();
    await deleteQueues([queues.py, queues.node]);
  });

  const runsOf = (task: string) => node.calls.filter((call) => call.task === task);

  /** Resolves once the celeriac workers have settled every one of `ids` (chord counting included). */
  async function settledAll(ids: readonly string[]): Promise<void> {
    for (let waited = 0; !ids.every((id) => settled.has(id)); waited += 20) {
      if (waited > 20_000) throw new Error(`not settled: ${ids.filter((id) => !settled.has(id)).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  for (const serializer of ['json', 'msgpack'] as const) {
    describe(`${serializer} messages`, () => {
      const contentType = serializer === 'json' ? 'application/json' : 'application/x-msgpack';
      const producer = <T = PythonOutcome>(command: string, ...args: (string | object)[]) =>
        pythonProducer<T>(queues, command, args, serializer);

      it('node_add.delay(2, 3) runs on a celeriac worker; Python get() returns 5', async () => {
        const out = await producer('delay_add');
        assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 5 });
        const { message, contentType: received_ } = received.get(out.id)!;
        assert.equal(received_, contentType);
        assert.equal(message.headers.lang, 'py');
        assert.equal(message.headers.task, 'node.add');
        assert.deepEqual(message.args, [2, 3]);
      });

      it("apply_async((1,), {'y': 2}, countdown=1): kwargs placed by argNames, eta honoured", async () => {
        const out = await producer('apply_async_kwargs');
        assert.equal(out.result, 3);
        const { message } = received.get(out.id)!;
        assert.deepEqual(message.args, [1]);
        assert.deepEqual(message.kwargs, { y: 2 });
        assert.ok(message.headers.eta, 'the message carries an eta');
        const run = runsOf('node.add').find((call) => call.id === out.id)!;
        assert.deepEqual(run.args, [1], 'the task context keeps the arguments as received');
        // Timers may fire a millisecond early; the point is that it did not run on arrival.
        assert.ok(run.at >= Date.parse(message.headers.eta) - 5, `ran at ${new Date(run.at).toISOString()}, eta ${message.headers.eta}`);
      });

      it('keyword-only calls, and expires/priority/countdown as Celery sends them', async () => {
        const out = await producer('call', 'node.add', { kwargs: { x: 4, y: 6 }, options: { priority: 6, expires: 3600, countdown: 0.5 } });
        assert.equal(out.result, 10);
        const { message } = received.get(out.id)!;
        assert.equal(message.priority, 6);
        const expires = Date.parse(message.headers.expires!);
        const eta = Date.parse(message.headers.eta!);
        assert.ok(
          expires - eta > 3_500_000 && expires - eta < 3_600_000,
          `expires ${message.headers.expires} is ~1h after eta ${message.headers.eta}`,
        );
      });

      it('a keyword argument the task does not declare fails with a TypeError that Python re-raises', async () => {
        const unknown = await producer('call', 'node.add', { args: [1], kwargs: { z: 2 } });
        assert.equal(unknown.state, 'FAILURE');
        assert.deepEqual(unknown.error, {
          type: 'TypeError',
          module: 'builtins',
          message: "task node.add got an unexpected keyword argument 'z'",
        });
        const undeclared = await producer('call', 'node.inspect', { kwargs: { a: 1 } });
        assert.deepEqual(undeclared.error, {
          type: 'TypeError',
          module: 'builtins',
          message: 'task node.inspect got keyword arguments (a) but declares no argNames',
        });
      });

      it('chain(node_multiply.s(2, 2), node_add.s(10)) → 14, the second step sent by the celeriac worker', async () => {
        const out = await producer<PythonOutcome & { parent_id: string }>('node_chain');
        assert.equal(out.result, 14);
        assert.equal(received.get(out.id)!.message.headers.parent_id, out.parent_id);
        assert.equal(received.get(out.id)!.message.headers.root_id, out.parent_id);
      });

      it('group(node_add.s(i, i) for i in range(5)) → [0, 2, 4, 6, 8] in group order', async () => {
        const out = await producer<{ id: string; result: number[]; children: string[] }>('node_group', '5');
        assert.deepEqual(out.result, [0, 2, 4, 6, 8]);
        // Celery 5.2 numbers members (group_index) only in chord headers.
        for (const child of out.children) assert.equal(received.get(child)!.message.headers.group, out.id);
      });

      it("a Python-built chord over two celeriac workers fires its body exactly once, with Celery's .s/.j keys", async () => {
        const size = 24;
        const out = await producer<PythonOutcome & { group_id: string; header: string[] }>('node_chord', String(size));
        assert.equal(out.result, size * (size - 1));
        await settledAll([...out.header, out.id]);
        const bodyRuns = runsOf('node.add_all').filter((call) => call.id === out.id);
        assert.equal(bodyRuns.length, 1, 'the body ran once');
        assert.deepEqual(bodyRuns[0].args, [Array.from({ length: size }, (_, i) => 2 * i)], 'header results in header order');
        for (const [index, id] of out.header.entries()) {
          const { headers } = received.get(id)!.message;
          assert.deepEqual([headers.group, headers.group_index], [out.group_id, index]);
        }
        const left = await redis.exists(...['.j', '.s', '.t'].map((suffix) => `celery-taskset-meta-${out.group_id}${suffix}`));
        assert.equal(left, 0, 'the chord keys are deleted once the body is sent');
      });

      it('a failing header task: the body is recorded FAILURE with ChordError and never runs', async () => {
        const out = await producer<PythonOutcome & { group_id: string; header: string[] }>('node_chord_failing');
        // Celery's get() re-raises a failed parent (the header) before looking at the body.
        assert.deepEqual(out.error, { type: 'TypeError', module: 'builtins', message: 'header boom' });
        await settledAll(out.header);
        const body = JSON.parse((await redis.get(`celery-task-meta-${out.id}`))!) as {
          status: string;
          result: { exc_type: string; exc_module: string; exc_message: string[] };
        };
        assert.equal(body.status, 'FAILURE');
        assert.equal(body.result.exc_type, 'ChordError');
        assert.equal(body.result.exc_module, 'celery.exceptions');
        assert.match(body.result.exc_message[0], /raised TypeError: header boom/);
        assert.equal(runsOf('node.add_all').filter((call) => call.id === out.id).length, 0);
      });

      it('a celeriac failure is re-raised by Python as the same builtin type, with the JS stack as traceback', async () => {
        const out = await producer('call', 'node.fail', { args: ['boom from node'] });
        assert.equal(out.state, 'FAILURE');
        assert.deepEqual(out.error, { type: 'TypeError', module: 'builtins', message: 'boom from node' });
        assert.match(out.traceback ?? '', /^TypeError: boom from node\n\s+at /);
      });

      it('a project error class reaches Python under its own name (a stand-in class Celery creates)', async () => {
        const out = await producer('call', 'node.fail_custom', { args: ['acct-9', 3] });
        assert.deepEqual(out.error, { type: 'QuotaExceeded', module: 'celery.exceptions', message: 'account acct-9 is over quota by 3' });
        const stored = JSON.parse((await redis.get(`celery-task-meta-${out.id}`))!) as { result: unknown };
        assert.deepEqual(stored.result, {
          exc_type: 'QuotaExceeded',
          exc_message: ['account acct-9 is over quota by 3'],
          exc_module: 'celeriac',
        });
      });

      it('a task that expires before its countdown is recorded REVOKED by celeriac; Python get() raises TaskRevokedError', async () => {
        const out = await producer('call', 'node.inspect', { args: ['never'], options: { countdown: 2, expires: 1 } });
        assert.equal(out.state, 'REVOKED');
        assert.equal(out.error!.type, 'TaskRevokedError');
        assert.equal(out.error!.module, 'celery.exceptions');
        assert.equal(runsOf('node.inspect').filter((call) => call.id === out.id).length, 0, 'never ran');
      });
    });
  }
});
