import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import {
  ConfigError,
  EffectUncertainError,
  NonRetryableError,
  createApp,
  once,
  onceForTask,
  onceKey,
  type App,
  type TaskContext,
} from '../../lib/index.js';
import { memoryApp } from '../support/apps.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** once()/onceForTask() on the memory:// backend: the claim rules of lib/app/once.ts. */
describe('once: exactly-once effects keyed by task id', () => {
  const apps: App[] = [];
  const app = (): App => {
    const a = memoryApp();
    apps.push(a);
    return a;
  };
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('runs the effect once per task id and key; duplicates, sequential or concurrent, get its first value', async () => {
    const a = app();
    const id = randomUUID();
    let effects = 0;
    const effect = async (): Promise<{ charge: number }> => {
      effects += 1;
      await sleep(30);
      return { charge: effects };
    };
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => onceForTask(a, id, effect)));
    const later = await onceForTask(a, id, effect);
    assert.equal(effects, 1);
    for (const value of [...concurrent, later]) assert.deepEqual(value, { charge: 1 });
    // Another key of the same task, and another task, are other effects.
    await onceForTask(a, id, effect, { key: 'email' });
    await onceForTask(a, randomUUID(), effect);
    assert.equal(effects, 3);
  });

  it('an effect that throws releases its claim: the next run does the effect', async () => {
    const a = app();
    const id = randomUUID();
    let attempts = 0;
    await assert.rejects(
      onceForTask(a, id, () => {
        attempts += 1;
        throw new Error('payment gateway down');
      }),
      /payment gateway down/,
    );
    assert.equal(await onceForTask(a, id, () => ++attempts), 2);
    assert.equal(await onceForTask(a, id, () => ++attempts), 2, 'done now: not run a third time');
  });

  it('a live holder slower than ttl keeps its claim by renewing it: nobody takes over', async () => {
    const a = app();
    const id = randomUUID();
    let effects = 0;
    const slow = async (): Promise<string> => {
      effects += 1;
      await sleep(500);
      return 'slow';
    };
    const first = onceForTask(a, id, slow, { ttl: 90 });
    await sleep(20);
    const second = onceForTask(a, id, slow, { ttl: 90 });
    assert.deepEqual(await Promise.all([first, second]), ['slow', 'slow']);
    assert.equal(effects, 1);
  });

  it('a claim abandoned mid-effect (its holder died): at-least-once runs the effect again after ttl', async () => {
    const a = app();
    const id = randomUUID();
    // A run that claimed the effect and died: its value never changes again.
    assert.equal(await a.backend.claim!(onceKey(id), 'run dead-worker 0', 60_000), null);
    let effects = 0;
    const value = await onceForTask(a, id, () => ++effects, { ttl: 150 });
    assert.equal(value, 1);
    assert.equal(effects, 1);
    assert.equal(await onceForTask(a, id, () => ++effects, { ttl: 150 }), 1);
  });

  it(
    'a claim abandoned mid-effect: ' + 'at-most-once fails with EffectUncertainError (never retried), and so does every later run',
    async () => {
      const a = app();
      const id = randomUUID();
      assert.equal(await a.backend.claim!(onceKey(id, 'ship'), 'run dead-worker 3', 60_000), null);
      let effects = 0;
      const attempt = (): Promise<number> => onceForTask(a, id, () => ++effects, { key: 'ship', ttl: 150, guarantee: 'at-most-once' });
      const error = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof EffectUncertainError);
      assert.ok(error instanceof NonRetryableError, 'autoretryFor cannot retry it');
      assert.equal(error.code, 'CELERIAC_EFFECT_UNCERTAIN');
      assert.match(error.message, /effect "ship" of task .* did not finish/);
      await assert.rejects(attempt(), EffectUncertainError);
      assert.equal(effects, 0);
    },
  );

  it('waiting for another run stops when the signal aborts', async () => {
    const a = app();
    const id = randomUUID();
    await a.backend.claim!(onceKey(id), 'run someone 0', 60_000);
    const controller = new AbortController();
    const waiting = onceForTask(a, id, () => 1, { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await assert.rejects(waiting, /shutting down/);
  });

  it('in a worker: a task id delivered twice does its effect once; both runs return the same value', async () => {
    const a = app();
    let effects = 0;
    const charge = a.task('once.charge', async function (this: TaskContext, amount: number) {
      const receipt = await once(a, 'charge', async () => ({ receipt: `r${++effects}`, amount }));
      return receipt.receipt;
    });
    const worker = a.worker({ concurrency: 2, shutdownTimeout: '5s' });
    await worker.start();
    try {
      const id = randomUUID();
      const first = await charge.applyAsync([10], {}, { taskId: id });
      assert.equal(await first.get({ timeout: 5000 }), 'r1');
      await a.backend.forget(id); // so the second run's result is observable
      const second = await charge.applyAsync([10], {}, { taskId: id });
      assert.equal(await second.get({ timeout: 5000 }), 'r1');
      assert.equal(effects, 1);
    } finally {
      await worker.stop();
    }
  });

  it('refuses clearly where it cannot work: rpc:// (no shared store), no backend, outside a task, bad durations', async () => {
    const rpc = createApp({ broker: `memory://once-${randomUUID()}`, backend: 'rpc://', logLevel: 'silent' });
    const none = createApp({ broker: `memory://once-${randomUUID()}`, backend: null, logLevel: 'silent' });
    apps.push(rpc, none);
    await assert.rejects(
      onceForTask(rpc, randomUUID(), () => 1),
      (e: unknown) => e instanceof ConfigError && /shared store.*rpc:\/\/.*ON CONFLICT/s.test(e.message),
    );
    await assert.rejects(
      onceForTask(none, randomUUID(), () => 1),
      ConfigError,
    );
    await assert.rejects(
      once(app(), 'x', () => 1),
      /outside a running task/,
    );
    await assert.rejects(
      onceForTask(app(), randomUUID(), () => 1, { ttl: 0 }),
      ConfigError,
    );
    await assert.rejects(
      onceForTask(app(), randomUUID(), () => 1, { ttl: '1m', keep: '10s' }),
      ConfigError,
    );
  });
});
