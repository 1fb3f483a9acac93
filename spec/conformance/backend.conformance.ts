import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ClosedError, ResultTimeoutError } from '../../lib/errors/errors.js';
import { pendingMeta, type ResultBackend, type StoreContext } from '../../lib/backends/result-backend.js';
import { type TaskMeta } from '../../lib/protocol/task-meta.js';
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
 * The default `subscribed` probe: two turns. Enough for a backend whose subscription takes effect
 * in the process (memory) or whose outcomes wait in a queue until read (rpc://); a backend that
 * subscribes on a server (Redis pub/sub) passes a probe that asks the server.
 */
async function twoTurns(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

/** A send the test settles by hand, as the broker's confirm or nack would. */
export function unconfirmedSend(): { sending: Promise<void>; confirm: () => void; fail: (error: Error) => void } {
  let confirm!: () => void;
  let fail!: (error: Error) => void;
  const sending = new Promise<void>((resolve, reject) => {
    confirm = resolve;
    fail = reject;
  });
  return { sending, confirm, fail };
}

/**
 * The contract of ResultBackend (lib/backends/result-backend.ts), run against one adapter.
 * `make` returns a new, unconnected backend each call; every test closes what it made.
 */
export function describeBackendConformance(
  name: string,
  make: (overrides?: ConformanceOverrides) => ResultBackend,
  options: {
    /** What a worker would pass when storing for this backend's own client (rpc:// needs reply_to). */
    storeContext?: (backend: ResultBackend) => StoreContext;
    /** False for backends that cannot save groups (rpc://, like Celery's). */
    groups?: boolean;
    /**
     * Resolves once a wait begun on `backend` for `taskId` will receive an outcome stored from
     * now on by its subscription alone (see WaitOptions.sending: until the send is confirmed,
     * nothing else reads it). Default: two turns.
     */
    subscribed?: (backend: ResultBackend, taskId: string) => Promise<void>;
  } = {},
): void {
  const context = (backend: ResultBackend): StoreContext => options.storeContext?.(backend) ?? {};
  const subscribed = options.subscribed ?? twoTurns;
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
      const stored = meta(
        id,
        'SUCCESS',
        { sum: 5, items: [1, 'two', null] },
        {
          children: [[[randomUUID(), null], null]],
          parent_id: randomUUID(),
          group_id: randomUUID(),
        },
      );
      await backend.storeResult(stored, context(backend));
      assert.deepEqual(await backend.getMeta(id), stored);
    });

    it('reads an unknown id as PENDING', async () => {
      const id = randomUUID();
      assert.deepEqual(await backend.getMeta(id), pendingMeta(id));
    });

    it('stamps date_done on a ready state stored without one, as Celery does', async () => {
      const id = randomUUID();
      await backend.storeResult({ ...meta(id, 'SUCCESS', 1), date_done: null }, context(backend));
      const read = await backend.getMeta(id);
      assert.match(read.date_done ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    });

    it('resolves a wait for a result stored after the wait began', async () => {
      const id = randomUUID();
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(meta(id, 'SUCCESS', 42), context(backend));
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 42));
    });

    it('resolves a wait at once for a result stored before it', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 'done'), context(backend));
      assert.deepEqual(await backend.waitForReady(id, { timeoutMs: WAIT_MS }), meta(id, 'SUCCESS', 'done'));
    });

    describe('waiting for a task whose send is still unconfirmed (WaitOptions.sending)', () => {
      it('resolves with a result stored after the wait began, before the send is confirmed', async () => {
        const id = randomUUID();
        const send = unconfirmedSend();
        const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS, sending: send.sending });
        await subscribed(backend, id);
        await backend.storeResult(meta(id, 'SUCCESS', 'early'), context(backend));
        assert.deepEqual(await waiting, meta(id, 'SUCCESS', 'early'));
        send.confirm();
      });

      it('still finds a result stored before the wait began, by the time the send is confirmed', async () => {
        const id = randomUUID();
        await backend.storeResult(meta(id, 'SUCCESS', 'before'), context(backend));
        const send = unconfirmedSend();
        const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS, sending: send.sending });
        await nextTurn();
        send.confirm();
        assert.deepEqual(await waiting, meta(id, 'SUCCESS', 'before'));
      });

      it("rejects with the send's error when the send fails, and leaves other waiters waiting", async () => {
        const id = randomUUID();
        const send = unconfirmedSend();
        const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS, sending: send.sending });
        const other = backend.waitForReady(id, { timeoutMs: WAIT_MS });
        await nextTurn();
        const refused = new Error('the broker nacked it');
        send.fail(refused);
        await assert.rejects(waiting, (err: unknown) => err === refused);
        await backend.storeResult(meta(id, 'SUCCESS', 'other'), context(backend));
        assert.deepEqual(await other, meta(id, 'SUCCESS', 'other'));
      });
    });

    it('passes over STARTED and RETRY and resolves on the later SUCCESS', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'STARTED'), context(backend));
      const waiting = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(
        meta(id, 'RETRY', { exc_type: 'Retry', exc_message: [], exc_module: 'celery.exceptions' }),
        context(backend),
      );
      await backend.storeResult(meta(id, 'STARTED'), context(backend));
      await backend.storeResult(meta(id, 'SUCCESS', 7), context(backend));
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 7));
    });

    it('never replaces a stored SUCCESS (a redelivered duplicate must not undo it)', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 1), context(backend));
      await backend.storeResult(meta(id, 'STARTED'), context(backend));
      await backend.storeResult(meta(id, 'FAILURE', { exc_type: 'E', exc_message: [], exc_module: null }), context(backend));
      assert.deepEqual(await backend.getMeta(id), meta(id, 'SUCCESS', 1));
    });

    it('serves many concurrent waiters on the same id and on different ids', async () => {
      const shared = randomUUID();
      const ids = Array.from({ length: 50 }, () => randomUUID());
      const onShared = Array.from({ length: 50 }, () => backend.waitForReady(shared, { timeoutMs: WAIT_MS }));
      const onEach = ids.map((id) => backend.waitForReady(id, { timeoutMs: WAIT_MS }));
      await nextTurn();
      await Promise.all([
        backend.storeResult(meta(shared, 'SUCCESS', 'shared'), context(backend)),
        ...ids.map((id, i) => backend.storeResult(meta(id, 'SUCCESS', i), context(backend))),
      ]);
      for (const result of await Promise.all(onShared)) assert.deepEqual(result, meta(shared, 'SUCCESS', 'shared'));
      assert.deepEqual(
        await Promise.all(onEach),
        ids.map((id, i) => meta(id, 'SUCCESS', i)),
      );
    });

    it('rejects with ResultTimeoutError when nothing ready arrives in time, and can wait again', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'STARTED'), context(backend));
      await assert.rejects(backend.waitForReady(id, { timeoutMs: 50 }), (err: unknown) => {
        assert.ok(err instanceof ResultTimeoutError);
        assert.equal(err.code, 'CELERIAC_RESULT_TIMEOUT');
        assert.equal(err.taskId, id);
        return true;
      });
      const again = backend.waitForReady(id, { timeoutMs: WAIT_MS });
      await nextTurn();
      await backend.storeResult(meta(id, 'SUCCESS', 'late'), context(backend));
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
      await backend.storeResult(meta(id, 'SUCCESS', 'still'), context(backend));
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
      await backend.storeResult(failure, context(backend));
      assert.deepEqual(await waiting, failure);
      assert.deepEqual(await backend.getMeta(id), failure);
    });

    it('reads PENDING after forget', async () => {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 3), context(backend));
      assert.equal((await backend.getMeta(id)).status, 'SUCCESS');
      await backend.forget(id);
      assert.deepEqual(await backend.getMeta(id), pendingMeta(id));
    });

    it('lets a result expire after resultExpiresMs', async () => {
      const short = make({ resultExpiresMs: 1_000 });
      extra.push(short);
      const id = randomUUID();
      await short.storeResult(meta(id, 'SUCCESS', 'brief'), context(short));
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

    if (options.groups === false) {
      it('refuses to save or restore a group, saying why', async () => {
        await assert.rejects(backend.saveGroup(randomUUID(), [randomUUID()]), /cannot save groups/);
        await assert.rejects(backend.restoreGroup(randomUUID()), /cannot save groups/);
      });
    } else {
      it("saves, restores and forgets a group in Celery's layout", async () => {
        const groupId = randomUUID();
        const ids = [randomUUID(), randomUUID(), randomUUID()];
        assert.equal(await backend.restoreGroup(groupId), null);
        await backend.saveGroup(groupId, ids);
        assert.deepEqual(await backend.restoreGroup(groupId), ids);
        await backend.forgetGroup(groupId);
        assert.equal(await backend.restoreGroup(groupId), null);
      });
    }

    it('completes a chord exactly once, with outcomes in header order, however the parts arrive', async () => {
      const groupId = randomUUID();
      const size = 25;
      const parts = Array.from({ length: size }, (_, index) => ({
        groupId,
        groupIndex: index,
        size,
        taskId: randomUUID(),
        state: 'SUCCESS' as const,
        result: index * 10,
      }));
      await backend.setChordSize(groupId, size);
      // Report in a scrambled order, all at once.
      const scrambled = [...parts].sort((a, b) => ((a.groupIndex * 7919) % size) - ((b.groupIndex * 7919) % size));
      const answers = await Promise.all(scrambled.map((part) => backend.chordPartReturn(part)));
      const completions = answers.filter((answer) => answer !== null);
      assert.equal(completions.length, 1, 'exactly one report completes the chord');
      assert.deepEqual(
        completions[0],
        parts.map((p) => ({ taskId: p.taskId, state: 'SUCCESS', result: p.result })),
      );
      await backend.chordDone(groupId);
    });

    it('counts a header task once even when it reports again, and lets only the completer re-claim', async () => {
      const groupId = randomUUID();
      await backend.setChordSize(groupId, 2);
      const first = { groupId, groupIndex: 0, size: 2, taskId: randomUUID(), state: 'SUCCESS' as const, result: 'a' };
      const second = {
        groupId,
        groupIndex: 1,
        size: 2,
        taskId: randomUUID(),
        state: 'FAILURE' as const,
        result: { exc_type: 'Error', exc_message: ['x'], exc_module: 'celeriac' },
      };
      assert.equal(await backend.chordPartReturn(first), null);
      // A redelivered, re-run header task with another result: not a second member.
      assert.equal(await backend.chordPartReturn({ ...first, result: 'a-again' }), null);
      const done = await backend.chordPartReturn(second);
      assert.deepEqual(
        done?.map((o) => [o.taskId, o.state, o.result]),
        [
          [first.taskId, 'SUCCESS', 'a'],
          [second.taskId, 'FAILURE', second.result],
        ],
      );
      // The completer's message redelivered before the body was surely sent: it gets the set again.
      assert.deepEqual(await backend.chordPartReturn(second), done);
      // Anyone else does not.
      assert.equal(await backend.chordPartReturn(first), null);
      await backend.chordDone(groupId);
      // After chordDone the counters are gone: a late duplicate cannot fire the body again.
      assert.equal(await backend.chordPartReturn(second), null);
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
      await assert.rejects(backend.storeResult(meta(id, 'SUCCESS'), context(backend)), ClosedError);
      await assert.rejects(backend.forget(id), ClosedError);
      await backend.close(); // idempotent
    });
  });
}
