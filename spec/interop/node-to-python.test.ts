import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chain, chord, createApp, group, Signature, TaskFailedError, type App } from '../../lib/index.js';
import type { RunningProcess } from '../support/processes.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { deleteQueues, startPythonWorker, stopPythonWorker, type InteropQueues } from './python-peer.js';

/**
 * Node → Python: a celeriac producer sends tasks by name to a real Celery 5.2 worker
 * (tasks.py) and reads the outcome through Celery's Redis result backend.
 */
describe('interop: celeriac producer → Python Celery worker (redis:// results)', () => {
  const queues: InteropQueues = { py: uniqueName('interop-n2p.py'), node: uniqueName('interop-n2p.node') };
  let python: RunningProcess | undefined;
  let app: App;

  /** A signature of a task that only Python serves: the Node side gives it its queue. */
  const py = (task: string, ...args: unknown[]) => new Signature({ task: `tasks.${task}`, args, options: { queue: queues.py } }, app);

  before(async () => {
    app = createApp({ name: 'interop-n2p', broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queues.node, logLevel: 'silent' });
    python = await startPythonWorker(queues);
  });

  after(async () => {
    await stopPythonWorker(python);
    await app.close();
    await deleteQueues([queues.py, queues.node]);
  });

  for (const serializer of ['json', 'msgpack'] as const) {
    describe(`${serializer} messages`, () => {
      const send = <R>(task: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: Record<string, unknown> = {}) =>
        app.sendTask<R>(`tasks.${task}`, args, kwargs, { queue: queues.py, serializer, ...options });

      it("sendTask('tasks.add', [2, 3]) runs on the Python worker; get() returns 5", async () => {
        const result = await send<number>('add', [2, 3]);
        assert.equal(await result.get({ timeout: '20s' }), 5);
        assert.equal(await result.state, 'SUCCESS');
        assert.match(python!.output(), new RegExp(`Task tasks\\.add\\[${result.id}\\] received`));
      });

      it('keyword arguments reach Python as keyword arguments', async () => {
        assert.equal(await (await send<number>('add', [], { x: 4, y: 6 })).get({ timeout: '20s' }), 10);
        assert.equal(await (await send<number>('add', [1], { y: 2 })).get({ timeout: '20s' }), 3);
      });

      it('arguments keep their JSON types and values in Python', async () => {
        const args = [1, -2.5, 'ünïcödé ✓', null, true, [1, [2, 3]], { nested: { list: [1, 'a'] } }, 2 ** 40];
        const kwargs = { text: 'x', numbers: [1, 2], empty: {} };
        const seen = await (await send<Record<string, unknown>>('inspect', args, kwargs)).get({ timeout: '20s' });
        assert.deepEqual(seen.args, args);
        assert.deepEqual(seen.kwargs, kwargs);
        assert.equal(seen.content_type, serializer === 'json' ? 'application/json' : 'application/x-msgpack');
      });

      // retries 300: an integer header past what a byte holds (py-amqp reads amqplib's int16 tag as a string; header-values.ts).
      it('countdown, expires, priority, retries and lineage reach Python as Celery reads them', async () => {
        const sentAt = Date.now();
        const result = await app.sendTask<Record<string, unknown>>(
          'tasks.inspect',
          ['x'],
          {},
          { queue: queues.py, serializer, countdown: '1s', expires: '1h', priority: 7 },
          { retries: 300, parentId: 'parent-of-inspect', rootId: 'root-of-inspect' },
        );
        const seen = await result.get({ timeout: '20s' });
        const eta = Date.parse(String(seen.eta));
        const expires = Date.parse(String(seen.expires));
        assert.ok(eta >= sentAt + 1000 && eta <= Date.now(), `eta ${String(seen.eta)} is a second after sending`);
        assert.ok(
          Date.parse(String(seen.started_at)) >= eta,
          `Python waited for the eta (${String(seen.started_at)} ≥ ${String(seen.eta)})`,
        );
        assert.ok(
          expires >= sentAt + 3_600_000 && expires <= sentAt + 3_600_000 + 60_000,
          `expires ${String(seen.expires)} is an hour after sending`,
        );
        assert.equal(seen.priority, 7);
        assert.equal(seen.retries, 300);
        assert.equal(seen.id, result.id);
        assert.equal(seen.parent_id, 'parent-of-inspect');
        assert.equal(seen.root_id, 'root-of-inspect');
      });

      it("a Python task's self.retry() re-sends it until it succeeds; get() sees the last run", async () => {
        const result = await send<number>('flaky', [3]);
        assert.equal(await result.get({ timeout: '20s' }), 2, 'succeeded on its third try (retries == 2)');
      });

      it("a Python exception rejects get() with TaskFailedError carrying Python's type, message, module and traceback", async () => {
        const result = await send('fail', ['boom from python']);
        const error = await result.get({ timeout: '20s' }).then(
          () => assert.fail('get() resolved'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof TaskFailedError);
        assert.equal(error.state, 'FAILURE');
        assert.equal(error.taskId, result.id);
        assert.equal(error.excType, 'ValueError');
        assert.equal(error.excMessage, 'boom from python');
        assert.equal(error.excModule, 'builtins');
        assert.match(error.traceback ?? '', /^Traceback \(most recent call last\):/);
        assert.match(error.traceback ?? '', /ValueError: boom from python\s*$/);
        assert.equal(await result.state, 'FAILURE');
      });

      it("a project exception class keeps its name and module ('tasks')", async () => {
        const error = await (await send('fail_custom', ['acct-1', 5])).get({ timeout: '20s' }).then(
          () => assert.fail('get() resolved'),
          (e: unknown) => e as TaskFailedError,
        );
        assert.equal(error.excType, 'InsufficientFunds');
        assert.equal(error.excModule, 'tasks');
        assert.equal(error.excMessage, 'account acct-1 is short by 5');
      });

      it('a task that expires before its countdown is recorded REVOKED by Python; get() rejects with state REVOKED', async () => {
        const result = await send('inspect', ['never'], {}, { countdown: '2s', expires: '1s' });
        const error = await result.get({ timeout: '20s' }).then(
          () => assert.fail('get() resolved'),
          (e: unknown) => e as TaskFailedError,
        );
        assert.ok(error instanceof TaskFailedError);
        assert.equal(error.state, 'REVOKED');
        assert.equal(error.excType, 'TaskRevokedError');
        assert.equal(error.excModule, 'celery.exceptions');
        assert.equal(await result.state, 'REVOKED');
      });
    });
  }

  describe('canvas built in Node, run by Python workers', () => {
    it('chain: (2 + 3) * 4 — Python sends the second step itself', async () => {
      const result = await chain(py('add', 2, 3), py('multiply', 4)).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 20);
      assert.equal(await result.parent!.get({ timeout: '20s' }), 5);
    });

    it('group of Python tasks: values in group order', async () => {
      const result = await group(Array.from({ length: 6 }, (_, i) => py('multiply', i, 10))).applyAsync();
      assert.deepEqual(await result.get({ timeout: '20s' }), [0, 10, 20, 30, 40, 50]);
    });

    it('chord over Python workers: celeriac sets the chord size, Celery counts the header and fires the body', async () => {
      const result = await chord(
        Array.from({ length: 8 }, (_, i) => py('add', i, i)),
        py('add_all'),
      ).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 56);
    });
  });
});
