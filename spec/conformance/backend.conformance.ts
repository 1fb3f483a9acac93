import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ClosedError, ResultTimeoutError } from '../../lib/errors/errors.js';
import { pendingMeta, type ResultBackend, type TaskMeta } from '../../lib/backends/result-backend.js';
import { isReady, type TaskState } from '../../lib/protocol/states.js';

/** What a suite may ask of `make` beyond the defaults; `make` must honour it. */
export interface ConformanceOverrides {
  resultExpiresMs?: number;
}

/** Long enough never to fire in a passing test; the timeout test uses its own short one. */
const WAIT_MS = 10_000;

export function meta(taskId: string, status: TaskState, result: unknown = null, extra: Partial<TaskMeta> = {}): TaskMeta {
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: isReady(status) ? '2026-11-26T21:32:05.573477' : null,
    task_id: taskId,
    ...extra,
  };
}

/** Resolves on the next turn of the event loop, after pending I/O callbacks. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The contract of ResultBackend (lib/backends/result-backend.ts), run against one adapter.
 * `make` returns a new, unconnected backend each call; every test closes what it made.
 */
export function describeBackendConformance(
  name: string,
  make: (overrides?: ConformanceOverrides) => ResultBackend,
): void {
  describe(`ResultBackend conformance: ${name}`, () => {
    let backend: ResultBackend;
    const extra: ResultBackend[] = [];

    beforeEach(() => {
      backend = make();
    });

    afterEach(async () => {
      await Promise.all([backend.close(), ...extra.splice(0).map((b) => b.close())]);
    });

    it('reads back what it stored', async () => {
      const id = randomUUID();
      const stored = meta(id, 'SUCCESS', { sum: 5, items: [1, 'two', null] }, {
        children: [[[randomUUID(), null], null]],
        parent_id: randomUUID(),
        group_id: randomUUID(),
      });
      await backend.storeResult(stored, {});
      assert.deepEqual(await backend.getMeta(id), stored);
    });

    it('reads an unknown id as PENDING', async () => {
      const id = randomUUID();
      assert.deepEqual(await backend.getMeta(id), pendingMeta(id));
    });

    it('stamps date_done on a ready state stored without one, as Celery does', async () => {
      const id = randomUUID();
      await backend.storeResult({ ...meta(id, 'SUCCESS', 1), date_done: null }, {});
      const read = await backend.getMeta(id);
      assert.match(read.date_done ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    });

    it('resolves a wait for a result stored after the wait began', async () => {
      const id = randomUUID();
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(meta(id, 'SUCCESS', 42), {});
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 42));
    });

    it('resolves a wait at once for a result stored before it', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 'done'), {});
      assert.deepEqual(await backend.waitForReady(id, { timeoutMs: WAIT_MS }), meta(id, 'SUCCESS', 'done'));
    });

    it('passes over STARTED and RETRY and resolves on the later SUCCESS', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'STARTED'), {});
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(meta(id, 'RETRY', { exc_type: 'Retry', exc_message: [], exc_module: 'celery.exceptions' }), {});
      await backend.storeResult(meta(id, 'STARTED'), {});
      await backend.storeResult(meta(id, 'SUCCESS', 7), {});
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 7));
    });

    it('never replaces a stored SUCCESS (a redelivered duplicate must not undo it)', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 1), {});
      await backend.storeResult(meta(id, 'STARTED'), {});
      await backend.storeResult(meta(id, 'FAILURE', { exc_type: 'E', exc_message: [], exc_module: null }), {});
      assert.deepEqual(await backend.getMeta(id), meta(id, 'SUCCESS', 1));
    });

    it('serves many concurrent waiters on the same id and on different ids', async () => {
      const shared = randomUUID();
      const ids = Array.from({ length: 50 }, () => randomUUID());
      const onShared = Array.from({ length: 50 }, () => backend.waitForReady(shared, { timeoutMs: WAIT_MS }));
      const onEach = ids.map((id) => backend.waitForReady(id, { timeoutMs: WAIT_MS }));
      await nextTurn();
      await Promise.all([
        backend.storeResult(meta(shared, 'SUCCESS', 'shared'), {}),
        ...ids.map((id, i) => backend.storeResult(meta(id, 'SUCCESS', i), {})),
      ]);
      for (const result of await Promise.all(onShared)) assert.deepEqual(result, meta(shared, 'SUCCESS', 'shared'));
      assert.deepEqual(await Promise.all(onEach), ids.map((id, i) => meta(id, 'SUCCESS', i)));
    });

    it('rejects with ResultTimeoutError when nothing ready arrives in time, and can wait again', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'STARTED'), {});
      await assert.rejects(backend.waitForReady(id, { timeoutMs: 50 }), (err: unknown) => {
        assert.ok(err instanceof ResultTimeoutError);
        assert.equal(err.code, 'CELERIAC_RESULT_TIMEOUT');
        assert.equal(err.taskId, id);
        return true;
      });
      const again = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(meta(id, 'SUCCESS', 'late'), {});
      assert.deepEqual(await again, meta(id, 'SUCCESS', 'late'));
    });

    it('rejects with the signal reason when aborted, before or during the wait', async () => {
      const id = randomUUID();
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS, signal: controller.signal });
      const other = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      controller.abort(reason);
      await assert.rejects(waiting, (err: unknown) => err === reason);
      await assert.rejects(backend.waitForReady(id, { timeoutMs: WAIT_MS, signal: controller.signal }), (err: unknown) => err === reason);
      // Aborting one waiter leaves the others on the same id waiting.
      await backend.storeResult(meta(id, 'SUCCESS', 'still'), {});
      assert.deepEqual(await other, meta(id, 'SUCCESS', 'still'));
    });

    it('round-trips a FAILURE with exception info and traceback, and resolves a wait with it', async () => {
      const id = randomUUID();
      const failure = meta(
        id,
        'FAILURE',
        { exc_type: 'TypeError', exc_message: ["unsupported operand type(s) for +: 'int' and 'str'"], exc_module: 'builtins' },
        { traceback: 'Traceback (most recent call last):\n  File "tasks.py", line 12, in add\nTypeError: ...\n' },
      );
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(failure, {});
      assert.deepEqual(await waiting, failure);
      assert.deepEqual(await backend.getMeta(id), failure);
    });

    it('reads PENDING after forget', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 3), {});
      assert.equal((await backend.getMeta(id)).status, 'SUCCESS');
      await backend.forget(id);
      assert.deepEqual(await backend.getMeta(id), pendingMeta(id));
    });

    it('lets a result expire after resultExpiresMs', async () => {
      const short = make({ resultExpiresMs: 1_000 });
      extra.push(short);
      const id = randomUUID();
      await short.storeResult(meta(id, 'SUCCESS', 'brief'), {});
      assert.equal((await short.getMeta(id)).status, 'SUCCESS');
      // Bounded wait for the expiry; the bound is generous, the property is that it happens.
      const deadline = Date.now() + 10_000;
      let status = 'SUCCESS';
      while (status !== 'PENDING' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await short.getMeta(id)).status;
      }
      assert.equal(status, 'PENDING');
    });

    it('rejects pending waits with ClosedError on close, and every call after it', async () => {
      const id = randomUUID();
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      const elsewhere = backend.waitForReady(randomUUID(), { timeoutMs: WAIT_MS });
      await nextTurn();
      const rejected = Promise.all([assert.rejects(waiting, ClosedError), assert.rejects(elsewhere, ClosedError)]);
      await backend.close();
      await rejected;
      await assert.rejects(backend.waitForReady(id, { timeoutMs: WAIT_MS }), ClosedError);
      await assert.rejects(backend.getMeta(id), ClosedError);
      await assert.rejects(backend.storeResult(meta(id, 'SUCCESS'), {}), ClosedError);
      await assert.rejects(backend.forget(id), ClosedError);
      await backend.close(); // idempotent
    });
  });
}
