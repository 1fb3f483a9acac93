import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TaskFailedError } from '../../lib/index.js';
import type { RequestOutcome } from '../../lib/worker/request.js';
import { add, app, classy, classyAutoretry, classyIgnored, inThread, nap, retrying, soft, spin } from '../support/thread-app.js';

const APP_MODULE = new URL('../support/thread-app.js', import.meta.url).href;

describe('threads pool', () => {
  const worker = app.worker({ pool: 'threads', appModule: APP_MODULE, concurrency: 1, shutdownTimeout: '2s' });
  after(async () => {
    await worker.stop();
    await app.close();
  });

  it('runs tasks in worker threads', async () => {
    await worker.start();
    assert.equal(worker.pool.kind, 'threads');
    assert.equal(await (await inThread.delay()).get({ timeout: '10s' }), true);
    assert.equal(await (await add.delay(2, 3)).get({ timeout: '10s' }), 5);
  });

  it('a hard time limit terminates a CPU-bound infinite loop, records FAILURE, and the worker goes on', async () => {
    const looping = await spin.applyAsync([], {}, { timeLimit: 300 });
    await assert.rejects(
      looping.get({ timeout: '10s' }),
      (e: unknown) => e instanceof TaskFailedError && e.excType === 'TimeLimitExceeded',
    );
    // Concurrency 1: this only runs if the looping thread's slot was freed and a new thread started.
    assert.equal(await (await add.delay(20, 22)).get({ timeout: '10s' }), 42);
  });

  it('time limits longer than a Node timer (30 days) do not fire at once', async () => {
    const napping = await nap.applyAsync([200], {}, { timeLimit: '30d', softTimeLimit: '25d' });
    assert.equal(await napping.get({ timeout: '10s' }), 200);
  });

  it('a result JSON cannot hold (a class instance) fails as in the async pool, not stored as a plain object', async () => {
    await assert.rejects((await classy.delay()).get({ timeout: '10s' }), (e: unknown) => {
      assert.ok(e instanceof TaskFailedError);
      assert.equal(e.excType, 'SerializationError');
      assert.match(e.excMessage, /a Point at result cannot be written as JSON/);
      return true;
    });
  });

  it('a result JSON cannot hold fails the task only where it is stored, and is never autoretried', async () => {
    const outcomes = new Map<string, RequestOutcome['state'][]>();
    const onDone = (request: { id: string }, outcome: RequestOutcome): void => {
      outcomes.set(request.id, [...(outcomes.get(request.id) ?? []), outcome.state]);
    };
    worker.on('task-done', onDone);
    try {
      const ignored = await classyIgnored.delay();
      const retried = await classyAutoretry.delay();
      await assert.rejects(
        retried.get({ timeout: '10s' }),
        (e: unknown) => e instanceof TaskFailedError && e.excType === 'SerializationError',
      );
      const deadline = Date.now() + 10_000;
      while (!(outcomes.has(ignored.id) && outcomes.has(retried.id)) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(outcomes.get(ignored.id), ['SUCCESS'], 'nothing stores an ignored result: the run succeeded');
      await new Promise((resolve) => setTimeout(resolve, 200)); // a retry would be back by now (delay 0)
      assert.deepEqual(outcomes.get(retried.id), ['FAILURE'], 'one run, not retried');
    } finally {
      worker.off('task-done', onDone);
    }
  });

  it('carries retry signals and soft time limits across the thread boundary', async () => {
    assert.equal(await (await retrying.delay()).get({ timeout: '10s' }), 1);
    assert.equal(await (await soft.delay()).get({ timeout: '10s' }), 'SoftTimeLimitExceeded');
  });
});
