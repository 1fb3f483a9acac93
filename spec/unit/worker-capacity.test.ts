import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import winston from 'winston';
import { ConfigError, type App } from '../../lib/index.js';
import { Autoscaler } from '../../lib/worker/autoscaler.js';
import { ChildLimits } from '../../lib/worker/child-limits.js';
import { resolveWorkerOptions } from '../../lib/worker/options.js';
import { gate, memoryApp } from '../support/apps.js';

const silent = winston.createLogger({ silent: true });

/** Waits for `condition`, polling; fails with `what` after a generous bound (never a timing assertion). */
async function until(condition: () => boolean, what: string, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('autoscaler (autoscaler.ts), on a fake worker and clock', () => {
  function fake(concurrency: number, load: number) {
    const worker = { concurrency, load };
    let now = 0;
    const resize = (n: number): void => {
      worker.concurrency = n;
    };
    const scaler = new Autoscaler({ max: 8, min: 2, keepaliveMs: 30_000 }, worker, resize, silent, () => now);
    return { worker, scaler, advance: (ms: number) => (now += ms) };
  }

  it('grows to the load at once, never past max', () => {
    const { worker, scaler } = fake(2, 5);
    assert.equal(scaler.maybeScale(), true);
    assert.equal(worker.concurrency, 5);
    worker.load = 50;
    scaler.maybeScale();
    assert.equal(worker.concurrency, 8);
    assert.deepEqual(scaler.info(), { max: 8, min: 2, current: 8, qty: 50 });
  });

  it('shrinks to the load, never below min, only once the keepalive has passed since it last grew', () => {
    const { worker, scaler, advance } = fake(2, 7);
    scaler.maybeScale();
    worker.load = 0;
    advance(29_999);
    assert.equal(scaler.maybeScale(), false, 'within the keepalive');
    assert.equal(worker.concurrency, 7);
    advance(2);
    assert.equal(scaler.maybeScale(), true);
    assert.equal(worker.concurrency, 2, 'min');
    worker.load = 1;
    assert.equal(scaler.maybeScale(), false, 'a load below min changes nothing');
  });

  it('update() applies new bounds at once, as Celery’s', () => {
    const { worker, scaler } = fake(6, 0);
    scaler.update(4, 1);
    assert.equal(worker.concurrency, 4, 'above the new max: shrunk');
    scaler.update(10, 5);
    assert.equal(worker.concurrency, 5, 'below the new min: grown');
    assert.deepEqual([scaler.max, scaler.min], [10, 5]);
  });
});

describe('child limits (child-limits.ts)', () => {
  it('is due after max tasks, or once the memory read is past max KiB', () => {
    const tasks = new ChildLimits(3, null);
    assert.equal(
      tasks.afterTask(() => 0),
      null,
    );
    assert.equal(
      tasks.afterTask(() => 0),
      null,
    );
    assert.match(tasks.afterTask(() => 0) ?? '', /ran 3 tasks \(max-tasks-per-child 3\)/);
    let read = 0;
    const memory = new ChildLimits(null, 100);
    assert.equal(
      memory.afterTask(() => (read++, 100 * 1024)),
      null,
      'at the limit is not past it',
    );
    assert.match(memory.afterTask(() => (read++, 101 * 1024)) ?? '', /holds 101 KiB \(max-memory-per-child 100 KiB\)/);
    assert.equal(read, 2);
    const none = new ChildLimits(null, null);
    assert.equal(none.unlimited, true);
    assert.equal(
      none.afterTask(() => (read++, 1e12)),
      null,
    );
    assert.equal(read, 2, 'no memory limit: memory is not read');
  });
});

describe('worker options for time limits, per-child limits and autoscale (options.ts)', () => {
  const host = { config: memoryApp().config, logger: silent };

  it('defaults: no limits, no autoscaler; values in milliseconds and KiB', () => {
    const plain = resolveWorkerOptions({}, host);
    assert.deepEqual(plain.defaultTimeLimits, { hardMs: null, softMs: null });
    assert.equal(plain.maxTasksPerChild, null);
    assert.equal(plain.maxMemoryPerChild, null);
    assert.equal(plain.autoscale, null);
    const set = resolveWorkerOptions(
      { timeLimit: '2s', softTimeLimit: 1500, maxTasksPerChild: 10, maxMemoryPerChild: 2048, autoscale: { max: 6, min: 0 } },
      host,
    );
    assert.deepEqual(set.defaultTimeLimits, { hardMs: 2000, softMs: 1500 });
    assert.equal(set.maxTasksPerChild, 10);
    assert.equal(set.maxMemoryPerChild, 2048);
    assert.deepEqual(set.autoscale, { max: 6, min: 0, keepaliveMs: 30_000 });
    assert.equal(set.concurrency, 0, 'an autoscaled worker starts at its min');
  });

  it('refuses bad values, naming the option', () => {
    for (const [options, option] of [
      [{ timeLimit: 0 }, 'timeLimit'],
      [{ softTimeLimit: 'soon' }, 'softTimeLimit'],
      [{ maxTasksPerChild: 0 }, 'maxTasksPerChild'],
      [{ maxMemoryPerChild: 1.5 }, 'maxMemoryPerChild'],
      [{ autoscale: { max: 0, min: 0 } }, 'autoscale.max'],
      [{ autoscale: { max: 2, min: 3 } }, 'autoscale.min'],
      [{ autoscale: { max: 2, min: 1, keepalive: 0 } }, 'autoscale.keepalive'],
    ] as const) {
      assert.throws(
        () => resolveWorkerOptions(options, host),
        (e: unknown) => e instanceof ConfigError && e.option === option,
        JSON.stringify(options),
      );
    }
  });
});

describe('a worker with the new options (memory://)', () => {
  const apps: App[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
    for (const app of apps) await app.close();
  });
  const app = (): App => {
    const made = memoryApp();
    apps.push(made);
    return made;
  };

  it('timeLimit applies to a task without limits of its own; a task’s own limit wins', async () => {
    const a = app();
    const sleep = a.task('spec.capacity.sleep', (ms: number) => new Promise((resolve) => setTimeout(resolve, ms, ms)));
    const own = a.task('spec.capacity.own', (ms: number) => new Promise((resolve) => setTimeout(resolve, ms, ms)), { timeLimit: '20s' });
    const worker = a.worker({ timeLimit: 200, shutdownTimeout: '1s' });
    stops.push(() => worker.stop());
    await worker.start();
    await assert.rejects((await sleep.delay(10_000)).get({ timeout: '20s' }), /TimeLimitExceeded: hard time limit \(0\.2s\) exceeded/);
    assert.equal(await (await own.delay(400)).get({ timeout: '20s' }), 400);
  });

  it('async pool: maxTasksPerChild stops the worker after that many tasks, with a recycle event', async () => {
    const a = app();
    const add = a.task('spec.capacity.add', (x: number, y: number) => x + y);
    const worker = a.worker({ maxTasksPerChild: 2, concurrency: 1, shutdownTimeout: '1s' });
    stops.push(() => worker.stop());
    const recycled: string[] = [];
    worker.on('recycle', (why) => recycled.push(why));
    await worker.start();
    const sent = await Promise.all([add.delay(1, 1), add.delay(2, 2), add.delay(3, 3)]);
    assert.equal(await sent[0].get({ timeout: '10s' }), 2);
    assert.equal(await sent[1].get({ timeout: '10s' }), 4);
    await until(() => recycled.length > 0, 'a recycle event');
    assert.match(recycled[0], /ran 2 tasks/);
    await worker.stop();
    assert.equal(await sent[2].state, 'PENDING', 'the third waits for a fresh worker');
    assert.equal(recycled.length, 1);
  });

  it('autoscale: grows under a backlog up to max, shrinks to min once idle past the keepalive', async () => {
    const a = app();
    const release = gate();
    const hold = a.task('spec.capacity.hold', () => release.promise);
    const worker = a.worker({ autoscale: { max: 4, min: 1, keepalive: 200 }, prefetchMultiplier: 3, shutdownTimeout: '1s' });
    stops.push(() => worker.stop());
    await worker.start();
    assert.equal(worker.concurrency, 1);
    assert.equal(worker.prefetch, 4 * 3, 'prefetch for max');
    const sent = await Promise.all(Array.from({ length: 6 }, () => hold.delay()));
    await until(() => worker.active === 4, 'four running at once');
    assert.equal(worker.concurrency, 4);
    release.open();
    await Promise.all(sent.map((s) => s.get({ timeout: '10s' })));
    await until(() => worker.concurrency === 1, 'back to min once idle');
    assert.deepEqual(worker.capacity.autoscaler?.info(), { max: 4, min: 1, current: 1, qty: 0 });
  });

  it('setConcurrency makes the broker hand out concurrency × multiplier from then on', async () => {
    const a = app();
    const release = gate();
    const hold = a.task('spec.capacity.prefetch', () => release.promise);
    const worker = a.worker({ concurrency: 1, prefetchMultiplier: 1, shutdownTimeout: '1s' });
    stops.push(() => worker.stop());
    await worker.start();
    const sent = await Promise.all(Array.from({ length: 8 }, () => hold.delay()));
    await until(() => worker.active === 1, 'one running');
    assert.equal(worker.unsettled, 1, 'prefetch 1: nothing else taken');
    await worker.setConcurrency(3);
    assert.equal(worker.prefetch, 3);
    // With the old prefetch of 1, a concurrency of 3 would still run one at a time.
    await until(() => worker.active === 3, 'three running');
    assert.ok(worker.unsettled <= 1 + 3, `at most the old consumer's 1 and the new one's 3, got ${worker.unsettled}`);
    release.open();
    await Promise.all(sent.map((s) => s.get({ timeout: '10s' })));
  });
});
