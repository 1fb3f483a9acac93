import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { restoreServices, startRedis, stopRedis, waitFor } from '../support/faults.js';
import { Workload } from '../support/loss-checker.js';

/**
 * The result backend going away under load. CI runs Redis without persistence, so a restart
 * also loses every stored result: the checker counts a task complete when a worker logged it
 * succeeded (after storing and acking) or its SUCCESS is in Redis (see loss-checker.ts).
 */
describe('reliability: Redis faults', () => {
  let workload: Workload | undefined;
  afterEach(async () => {
    await workload?.close();
    workload = undefined;
  });
  after(restoreServices);

  it('Redis down for longer than the store retries, then back: no task acked without its result, none lost', async (t) => {
    const w = (workload = new Workload());
    const workers = [await w.startWorker('d1', ['-c', '4']), await w.startWorker('d2', ['-c', '4'])];
    const sending = w.send(200, 30);
    await waitFor(() => w.executions().length >= 50, '50 runs', 60_000, 20);
    let upAt = 0;
    let downAt = 0;
    try {
      await stopRedis();
      downAt = Date.now();
      // Down until a worker gave up storing: four attempts (resultStoreRetryDelays 200 ms, 1 s,
      // 3 s between them), each waiting through the backend's reconnect attempts.
      await waitFor(
        () => workers.some((worker) => /message requeued/.test(worker.output())),
        'a worker to requeue a task it could not record',
        90_000,
        100,
      );
    } finally {
      await startRedis();
      upAt = Date.now();
    }
    t.diagnostic(`Redis was down ${upAt - downAt} ms; the first requeue came after that long`);
    await sending;
    const firstStored = (async () => {
      await waitFor(async () => (await w.storedSuccess(w.confirmed)).size > 0, 'a result stored after the restart', 30_000, 50);
      return Date.now() - upAt;
    })();
    const report = await w.settle(90_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`first result stored ${await firstStored} ms after Redis answered again`);
    for (const line of w.linesAbout(report.lost)) t.diagnostic(line);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    // Every task a worker could not record was requeued, not reported done, and ran again.
    const requeued = new Set(
      w.workers.flatMap((worker) =>
        [...worker.output().matchAll(/Task rel\.work\[([0-9a-f-]{36})\]: outcome could not be recorded/g)].map((m) => m[1]),
      ),
    );
    t.diagnostic(`${requeued.size} tasks requeued because their result could not be stored`);
    assert.ok(requeued.size > 0);
    const runs = w.executions();
    for (const id of requeued) assert.ok(runs.filter((r) => r.id === id).length >= 2, `requeued task ${id} ran again`);
    // What completed after Redis came back is in Redis (nothing was acked on a failed write).
    const lateRuns = new Set(runs.filter((r) => r.started > upAt).map((r) => r.id));
    const stored = await w.storedSuccess(lateRuns);
    assert.deepEqual(
      [...lateRuns].filter((id) => w.confirmed.has(id) && !stored.has(id)),
      [],
    );
    for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });
});
