/**
 * Fairness across workers of one queue, on the real RabbitMQ: the async pool's larger default
 * prefetch (pool-defaults.ts) must not let one of two idle workers take a whole burst, and
 * `-O fair` must keep what it promises — a worker takes only what it can start, so a task
 * never waits in a busy worker while another one is free.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { celeryWorkerOptions } from '../../bin/worker-flags.js';
import type { WorkerArgs } from '../../bin/commands/worker.js';
import { currentTask, type App, type Worker } from '../../lib/index.js';
import { gate, realApp, removeAppQueues, uniqueName } from '../support/apps.js';

const SLOW = 'spec.fairness.slow';
const QUICK = 'spec.fairness.quick';

describe('fairness across workers of one queue (amqp:// + redis://)', () => {
  const apps: App[] = [];
  const workers: Worker[] = [];
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    if (apps[0]) await removeAppQueues(apps[0]);
    await Promise.all(apps.map((a) => a.close()));
  });

  /** An app on the shared queue whose tasks report the worker that ran them; `hold` gates the slow task. */
  function node(queue: string, hold: Promise<void>): App {
    const app = realApp({ defaultQueue: queue });
    apps.push(app);
    app.task(SLOW, async () => {
      await hold;
      return currentTask()?.hostname;
    });
    app.task(QUICK, async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return currentTask()?.hostname;
    });
    return app;
  }

  async function startWorker(app: App, name: string, options: Parameters<App['worker']>[0] = {}): Promise<Worker> {
    const worker = app.worker({ hostname: name, shutdownTimeout: '5s', ...options });
    workers.push(worker);
    await worker.start();
    return worker;
  }

  it('two idle workers with the default settings share a burst smaller than one prefetch', async () => {
    const queue = uniqueName('fairness-defaults');
    const held = gate();
    held.open();
    const [a, b] = [node(queue, held.promise), node(queue, held.promise)];
    const wa = await startWorker(a, `a@${queue}`);
    await startWorker(b, `b@${queue}`);
    const burst = 40;
    assert.ok(burst <= wa.prefetch, `the burst (${burst}) fits in one worker's prefetch (${wa.prefetch})`);
    const sent = await Promise.all(Array.from({ length: burst }, () => a.sendTask(QUICK, [])));
    const ranOn = await Promise.all(sent.map((s) => s.get({ timeout: 30_000 })));
    const onA = ranOn.filter((host) => host === `a@${queue}`).length;
    assert.equal(ranOn.length - onA, ranOn.filter((host) => host === `b@${queue}`).length, 'every task ran on a or b');
    assert.ok(onA >= burst / 4 && onA <= (burst * 3) / 4, `a ran ${onA} of ${burst}, b ${burst - onA}: one took (nearly) everything`);
  });

  it('-O fair: a worker whose slots are busy takes nothing more, so a free worker runs the next task at once', async () => {
    const queue = uniqueName('fairness-fair');
    const held = gate();
    const fair = celeryWorkerOptions({ O: 'fair' } as WorkerArgs);
    const [a, b, c] = [node(queue, held.promise), node(queue, held.promise), node(queue, held.promise)];
    const wa = await startWorker(a, `a@${queue}`, { ...fair, concurrency: 2 });
    const wb = await startWorker(b, `b@${queue}`, { ...fair, concurrency: 2 });
    assert.equal(wa.prefetch, 2, '-O fair: prefetch = concurrency');
    try {
      const slow = await Promise.all(Array.from({ length: 4 }, () => a.sendTask(SLOW, [])));
      await until(() => wa.active === 2 && wb.active === 2, 'both workers busy with two slow tasks each');
      const quick = await a.sendTask(QUICK, []);
      // Neither busy worker may hold it: it waits in the queue, and a worker started now runs it
      // while the slow ones are still running.
      await startWorker(c, `c@${queue}`, { ...fair, concurrency: 2 });
      assert.equal(await quick.get({ timeout: 10_000 }), `c@${queue}`);
      assert.equal(wa.unsettled + wb.unsettled, 4, 'the busy workers hold only their running tasks');
      held.open();
      await Promise.all(slow.map((s) => s.get({ timeout: 30_000 })));
    } finally {
      held.open();
    }
  });
});

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
