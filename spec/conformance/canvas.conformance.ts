import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chain, chord, group, GroupResult, TaskFailedError, type App, type Worker } from '../../lib/index.js';
import { removeAppQueues } from '../support/apps.js';

/**
 * Canvas semantics on a broker/backend pair: run on memory:// in spec/unit and on RabbitMQ +
 * Redis (two workers) in spec/integration. `makeApp` returns an app with its own queue.
 */
export function describeCanvasBehaviour(
  name: string,
  makeApp: () => App,
  options: { workers?: number; chordSize?: number; groupSave?: boolean } = {},
): void {
  describe(`canvas (${name})`, () => {
    let app: App;
    let workers: Worker[] = [];
    const calls: { task: string; args: unknown[] }[] = [];
    let tasks: ReturnType<typeof defineTasks>;

    function defineTasks(target: App) {
      const record = (task: string, args: unknown[]) => calls.push({ task, args });
      return {
        add: target.task('canvas.add', (x: number, y: number) => {
          record('add', [x, y]);
          return x + y;
        }),
        multiply: target.task('canvas.multiply', (x: number, y: number) => {
          record('multiply', [x, y]);
          return x * y;
        }),
        addAll: target.task('canvas.add_all', (numbers: number[]) => {
          record('addAll', [numbers]);
          return numbers.reduce((sum, n) => sum + n, 0);
        }),
        fail: target.task('canvas.fail', (why: string) => {
          record('fail', [why]);
          throw new TypeError(why);
        }),
        onError: target.task('canvas.on_error', (failedId: string) => {
          record('onError', [failedId]);
          return failedId;
        }),
        onErrorWithInfo: target.task('canvas.on_error_info', (failedId: string, error: { exc_type: string; exc_message: unknown }) => {
          record('onErrorWithInfo', [failedId, error]);
          return error.exc_type;
        }),
      };
    }

    before(async () => {
      app = makeApp();
      tasks = defineTasks(app);
      workers = Array.from({ length: options.workers ?? 1 }, (_, i) =>
        app.worker({ concurrency: 4, hostname: `canvas${i}@%h`, shutdownTimeout: '5s' }),
      );
      for (const worker of workers) await worker.start();
    });

    after(async () => {
      for (const worker of workers) await worker.stop();
      await removeAppQueues(app);
      await app.close();
    });

    const callsOf = (task: string) => calls.filter((c) => c.task === task);

    it('chain(multiply.s(2, 2), add.s(10)) → 14, with parent links back to the first step', async () => {
      const result = await chain(tasks.multiply.s(2, 2), tasks.add.s(10)).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 14);
      assert.ok(result.parent, 'the last step has a parent');
      assert.equal(await result.parent.get({ timeout: '20s' }), 4);
      assert.equal(result.parent.parent, null);
    });

    it('immutable steps ignore the previous result', async () => {
      const result = await chain(tasks.multiply.s(2, 2), tasks.add.si(1, 1), tasks.add.s(10)).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 12);
    });

    it('group(multiply.s(2, 2), multiply.s(3, 2)) → [4, 6]', async () => {
      const result = await group(tasks.multiply.s(2, 2), tasks.multiply.s(3, 2)).applyAsync();
      assert.deepEqual(await result.get({ timeout: '20s' }), [4, 6]);
      assert.equal(await result.completedCount(), 2);
      if (options.groupSave === false) {
        await assert.rejects(result.save(), /cannot save groups/);
        return;
      }
      await result.save();
      const restored = await GroupResult.restore(app, result.id);
      assert.ok(restored);
      assert.deepEqual(
        restored.results.map((r) => r.id),
        result.results.map((r) => r.id),
      );
      assert.deepEqual(await restored.get({ timeout: '20s' }), [4, 6]);
    });

    it('chord([multiply.s(2, 2), multiply.s(3, 2)], addAll.s()) → 10', async () => {
      const result = await chord([tasks.multiply.s(2, 2), tasks.multiply.s(3, 2)], tasks.addAll.s()).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 10);
      assert.ok(result.parent instanceof GroupResult);
      assert.deepEqual(await result.parent.get({ timeout: '20s' }), [4, 6]);
    });

    it('a chord with an empty header runs the body with []', async () => {
      const result = await chord([], tasks.addAll.s()).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 0);
    });

    it(`a group of ${options.chordSize ?? 500} returns every result in group order`, async () => {
      const size = options.chordSize ?? 500;
      const result = await group(Array.from({ length: size }, (_, i) => tasks.add.s(i, 1))).applyAsync();
      assert.deepEqual(
        await result.get({ timeout: '120s' }),
        Array.from({ length: size }, (_, i) => i + 1),
      );
    });

    it(`a chord of ${options.chordSize ?? 500} runs its body exactly once, with results in header order`, async () => {
      const size = options.chordSize ?? 500;
      const before = callsOf('addAll').length;
      const header = Array.from({ length: size }, (_, i) => tasks.multiply.s(i, 1));
      const result = await chord(header, tasks.addAll.s()).applyAsync();
      assert.equal(await result.get({ timeout: '120s' }), (size * (size - 1)) / 2);
      const bodies = callsOf('addAll').slice(before);
      assert.equal(bodies.length, 1, 'the body ran once');
      assert.deepEqual(
        bodies[0].args[0],
        Array.from({ length: size }, (_, i) => i),
      );
    });

    it('a chain containing a group becomes a chord: multiply → [add, add] → addAll', async () => {
      const result = await chain(tasks.multiply.s(2, 2), group(tasks.add.s(1), tasks.add.s(2)), tasks.addAll.s()).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 11);
    });

    it("a chain ending in a group returns the group's results", async () => {
      const result = await chain(tasks.add.s(1, 1), group(tasks.multiply.s(10), tasks.multiply.s(100))).applyAsync();
      assert.deepEqual(await result.get({ timeout: '20s' }), [20, 200]);
    });

    it('a group of chains', async () => {
      const result = await group(chain(tasks.multiply.s(1, 2), tasks.add.s(1)), chain(tasks.multiply.s(2, 2), tasks.add.s(1))).applyAsync();
      assert.deepEqual(await result.get({ timeout: '20s' }), [3, 5]);
    });

    it('a chord whose header holds chains', async () => {
      const result = await chord(
        [chain(tasks.multiply.s(1, 2), tasks.add.s(1)), chain(tasks.multiply.s(2, 2), tasks.add.s(1))],
        tasks.addAll.s(),
      ).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 8);
    });

    it('a chord inside a chain, followed by another step', async () => {
      const result = await chain(
        tasks.add.s(1, 1),
        chord([tasks.multiply.s(2), tasks.multiply.s(3)], tasks.addAll.s()),
        tasks.add.s(100),
      ).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 110);
    });

    it('a chord whose body is a chain', async () => {
      const result = await chord(
        [tasks.multiply.s(2, 2), tasks.multiply.s(3, 2)],
        chain(tasks.addAll.s(), tasks.multiply.s(2)),
      ).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 20);
    });

    it('a chord inside a chord header', async () => {
      const inner = chord([tasks.multiply.s(1, 1), tasks.multiply.s(2, 1)], tasks.addAll.s());
      const result = await chord([inner, tasks.multiply.s(10, 1)], tasks.addAll.s()).applyAsync();
      assert.equal(await result.get({ timeout: '20s' }), 13);
    });

    it('link sends a callback with the result; linkError sends an errback with the failed id, once', async () => {
      const linked = await tasks.add.applyAsync([2, 3], {}, { link: tasks.multiply.s(7) });
      assert.equal(await linked.get({ timeout: '20s' }), 5);
      await waitUntil(() => callsOf('multiply').some((c) => c.args[0] === 5 && c.args[1] === 7), 'the callback multiply(5, 7)');
      const failing = await tasks.fail.s('nope').onError(tasks.onError.s()).onError(tasks.onErrorWithInfo.s()).applyAsync();
      await assert.rejects(failing.get({ timeout: '20s' }), TaskFailedError);
      await waitUntil(() => callsOf('onError').some((c) => c.args[0] === failing.id), 'the errback');
      await waitUntil(() => callsOf('onErrorWithInfo').some((c) => c.args[0] === failing.id), 'the errback taking the error');
      const withInfo = callsOf('onErrorWithInfo').find((c) => c.args[0] === failing.id)!;
      assert.deepEqual(withInfo.args[1], { exc_type: 'TypeError', exc_message: ['nope'], exc_module: 'builtins' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(callsOf('onError').filter((c) => c.args[0] === failing.id).length, 1);
    });

    it('a failed chain step: later steps never run and their results report the failure', async () => {
      const before = callsOf('add').length;
      const result = await chain(tasks.multiply.s(2, 2), tasks.fail.si('broken step'), tasks.add.s(1), tasks.add.s(2)).applyAsync();
      await assert.rejects(result.get({ timeout: '20s' }), (error: unknown) => {
        assert.ok(error instanceof TaskFailedError);
        assert.equal(error.excType, 'TypeError');
        assert.equal(error.excMessage, 'broken step');
        return true;
      });
      await assert.rejects(result.parent!.get({ timeout: '20s' }), /broken step/);
      assert.equal(callsOf('add').length, before, 'no later step ran');
    });

    it('a failed header task: the body never runs, the chord fails naming the task, the body errback runs once', async () => {
      const bodies = callsOf('addAll').length;
      const failing = tasks.fail.s('header broke').freeze();
      const body = tasks.addAll.s().onError(tasks.onError.s());
      const result = await chord([tasks.multiply.s(2, 2), failing, tasks.multiply.s(3, 3)], body).applyAsync();
      await assert.rejects(result.get({ timeout: '20s' }), (error: unknown) => {
        assert.ok(error instanceof TaskFailedError);
        assert.equal(error.excType, 'ChordError');
        assert.match(error.excMessage, new RegExp(`Dependency ${failing.id} raised TypeError: header broke`));
        return true;
      });
      await waitUntil(() => callsOf('onError').some((c) => c.args[0] === result.id), 'the body errback');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(callsOf('addAll').length, bodies, 'the body did not run');
      assert.equal(callsOf('onError').filter((c) => c.args[0] === result.id).length, 1);
    });

    it("signatures serialize to Celery's dict form", () => {
      const frozen = chain(tasks.multiply.s(2, 2), tasks.add.s(10)).freeze();
      const dict = JSON.parse(JSON.stringify(frozen)) as {
        subtask_type: string;
        kwargs: { tasks: { task: string; args: unknown[]; options: { task_id: string } }[] };
      };
      assert.equal(dict.subtask_type, 'chain');
      assert.deepEqual(
        dict.kwargs.tasks.map((t) => [t.task, t.args]),
        [
          ['canvas.multiply', [2, 2]],
          ['canvas.add', [10]],
        ],
      );
      assert.match(dict.kwargs.tasks[1].options.task_id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(JSON.parse(JSON.stringify(tasks.add.s(10))), {
        task: 'canvas.add',
        args: [10],
        kwargs: {},
        options: {},
        subtask_type: null,
        immutable: false,
      });
    });
  });
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
