import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pendingMeta } from '../../lib/backends/result-backend.js';
import { WaitingKeys, type WaitingKeysHost } from '../../lib/backends/waiting-keys.js';
import { ResultTimeoutError } from '../../lib/errors/errors.js';
import type { TaskMeta } from '../../lib/protocol/task-meta.js';

const success = (taskId: string, result: unknown): TaskMeta => ({ ...pendingMeta(taskId), status: 'SUCCESS', result });

/**
 * A host whose SUBSCRIBEs of one turn share one promise (as SubscriptionBatcher's), settled by
 * the spec; reads answer from `stored`.
 */
function host() {
  const subscribes: string[][] = [];
  const unsubscribed: string[] = [];
  const stored = new Map<string, TaskMeta>();
  let turn: { keys: string[]; promise: Promise<void>; settle: (error?: Error) => void } | undefined;
  const waitingHost: WaitingKeysHost = {
    subscribe: (taskId) => {
      if (!turn) {
        let settle!: (error?: Error) => void;
        const promise = new Promise<void>((resolve, reject) => {
          settle = (error) => (error ? reject(error) : resolve());
        });
        turn = { keys: [], promise, settle };
        subscribes.push(turn.keys);
      }
      turn.keys.push(taskId);
      return turn.promise;
    },
    unsubscribe: (taskId) => void unsubscribed.push(taskId),
    read: async (taskId) => stored.get(taskId) ?? pendingMeta(taskId),
    failure: (err) => err,
  };
  /** Answers the SUBSCRIBE of the current turn. */
  const answer = (error?: Error): void => {
    const current = turn!;
    turn = undefined;
    current.settle(error);
  };
  return { waitingHost, subscribes, unsubscribed, stored, answer };
}

describe('WaitingKeys: the waits of a key-value backend', () => {
  it('the keys of one SUBSCRIBE share its promise; each wait then reads its key and settles with what it stored', async () => {
    const { waitingHost, subscribes, stored, answer } = host();
    const waits = new WaitingKeys(waitingHost);
    stored.set('t2', success('t2', 2));
    const waiting = ['t1', 't2', 't3'].map((id) => waits.wait<TaskMeta>(id, { timeoutMs: Infinity }));
    assert.deepEqual(subscribes, [['t1', 't2', 't3']]);
    answer();
    assert.deepEqual((await waiting[1]).result, 2, 'read once subscribed');
    waits.ready('t1', success('t1', 1), () => success('t1', 1));
    assert.equal((await waiting[0]).result, 1, 'or settled by the message');
    assert.equal(waits.has('t3'), true);
    waits.failAll(new Error('closed'));
    await assert.rejects(waiting[2], /closed/);
  });

  it('a failed SUBSCRIBE fails every wait of its turn; the keys are then left', async () => {
    const { waitingHost, unsubscribed, answer } = host();
    const waits = new WaitingKeys(waitingHost);
    const waiting = ['a', 'b'].map((id) => waits.wait<TaskMeta>(id, { timeoutMs: Infinity }));
    answer(new Error('NOPERM'));
    for (const wait of waiting) await assert.rejects(wait, /NOPERM/);
    assert.deepEqual(unsubscribed, ['a', 'b']);
    assert.equal(waits.has('a'), false);
  });

  it("map makes the wait's value; what map throws rejects it", async () => {
    const { waitingHost, answer } = host();
    const waits = new WaitingKeys(waitingHost);
    const doubled = waits.wait('a', { timeoutMs: Infinity, map: (meta) => (meta.result as number) * 2 });
    const refused = waits.wait('b', {
      timeoutMs: Infinity,
      map: () => {
        throw new Error('FAILURE');
      },
    });
    answer();
    waits.ready('a', success('a', 21), () => success('a', 21));
    waits.ready('b', success('b', 0), () => success('b', 0));
    assert.equal(await doubled, 42);
    await assert.rejects(refused, /FAILURE/);
  });

  it("a send that fails fails its wait with the send's error; one that succeeds lets it read its key", async () => {
    const { waitingHost, stored, answer } = host();
    const waits = new WaitingKeys(waitingHost);
    const failing = waits.wait('a', { timeoutMs: Infinity, sending: Promise.reject(new Error('unroutable')) });
    await assert.rejects(failing, /unroutable/);
    let sent!: () => void;
    const sending = new Promise<void>((resolve) => (sent = resolve));
    const waiting = waits.wait<TaskMeta>('b', { timeoutMs: Infinity, sending });
    stored.set('b', success('b', 'done'));
    answer();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(waits.has('b'), true, 'subscribed, but the key is not read before the send is confirmed');
    sent();
    assert.equal((await waiting).result, 'done');
  });

  it('a wait with a timeout rejects with ResultTimeoutError naming its task and timeout', async () => {
    const { waitingHost, answer } = host();
    const waits = new WaitingKeys(waitingHost);
    const waiting = waits.wait('slow', { timeoutMs: 5 });
    answer();
    await assert.rejects(waiting, (error: unknown) => {
      assert.ok(error instanceof ResultTimeoutError);
      assert.equal(error.taskId, 'slow');
      assert.equal(error.timeoutMs, 5);
      return true;
    });
    assert.equal(waits.has('slow'), false);
  });
});
