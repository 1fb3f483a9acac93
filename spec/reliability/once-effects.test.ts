import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { waitFor } from '../support/faults.js';
import { readJsonLines } from '../support/json-lines.js';
import { Workload } from '../support/loss-checker.js';
import type { RunningProcess } from '../support/processes.js';
import type { EffectRecord } from '../support/reliability-app.js';

/**
 * Exactly-once effects (lib/app/once.ts) where duplicates really happen: `rel.effect` does its
 * effect through `once()`, then sleeps; workers are SIGKILLed while they hold tasks whose effect
 * is done, so those tasks run again elsewhere; then some task ids are sent a second time. The
 * tasks run more than once, their effects exactly once. Only worker processes are faulted: the
 * shared broker and Redis are left alone.
 */
describe('reliability: exactly-once effects', () => {
  let workload: Workload | undefined;
  const effectsFile = join(tmpdir(), `celeriac-effects-${process.pid}-${Date.now()}.jsonl`);
  afterEach(async () => {
    await workload?.close();
    workload = undefined;
    rmSync(effectsFile, { force: true });
  });

  const effects = (): EffectRecord[] => readJsonLines<EffectRecord>(effectsFile);

  it(
    'SIGKILL after the effect, three times, and every fourth task id sent twice: ' + 'tasks run again, each effect happens exactly once',
    async (t) => {
      const w = (workload = new Workload());
      const env = { RELIABILITY_EFFECTS: effectsFile };
      const workers: RunningProcess[] = [];
      for (const name of ['e1', 'e2', 'e3']) workers.push(await w.startWorker(name, ['-c', '4'], env));
      const sending = w.send(240, 150, 25, 'rel.effect');
      // A victim is killed while it holds a task whose effect is done — and recorded done: more than
      // SETTLED_MS ago, not in the millisecond between the effect and its done marker, where
      // at-least-once allows a second effect — but whose run is not finished.
      const SETTLED_MS = 50;
      const inFlightAfterEffect = (worker: RunningProcess): string[] => {
        const finished = new Set(w.executions().map((r) => r.id));
        return effects()
          .filter((e) => e.pid === worker.child.pid && !finished.has(e.id))
          .map((e) => e.id);
      };
      /** The victim holds a task past its effect, and none of its effects is younger than SETTLED_MS. */
      const killable = (worker: RunningProcess): boolean => {
        const now = Date.now();
        const own = effects().filter((e) => e.pid === worker.child.pid);
        return inFlightAfterEffect(worker).length > 0 && own.every((e) => now - e.at >= SETTLED_MS);
      };
      let killedAfterEffect = 0;
      for (const [victim, threshold] of [
        [0, 40],
        [1, 100],
        [2, 160],
      ] as const) {
        await waitFor(
          () => effects().length >= threshold && killable(workers[victim]),
          `${threshold} effects and one in flight on the victim`,
          60_000,
          5,
        );
        workers[victim].child.kill('SIGKILL');
        await workers[victim].exited;
        killedAfterEffect += inFlightAfterEffect(workers[victim]).length;
        workers[victim] = await w.startWorker(`e${victim + 1}b`, ['-c', '4'], env);
      }
      await sending;
      const first = await w.settle(60_000);
      // The same task ids again, as a producer that retried its sends would do.
      const again = [...w.confirmed].filter((_, i) => i % 4 === 0);
      await Promise.all(again.map((id) => w.producer.sendTask('rel.effect', [w.attempted.get(id)!, 0], {}, { taskId: id })));
      await waitFor(
        () => again.every((id) => w.executions().filter((r) => r.id === id).length >= 2),
        'every resent id to run again',
        60_000,
        50,
      );
      const report = await w.settle(60_000);

      const perId = new Map<string, number>();
      for (const e of effects()) perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
      const runs = w.executions();
      const skipped = runs.filter((r) => r.effectBy !== r.pid).length;
      const rerunIds = new Set(runs.filter((r) => r.redelivered).map((r) => r.id));
      t.diagnostic(`checker before resending: ${Workload.summary(first)}`);
      t.diagnostic(`checker: ${Workload.summary(report)}`);
      t.diagnostic(
        `killed holding ${killedAfterEffect} tasks with their effect done; ` +
          `${rerunIds.size} tasks ran again after a kill; ${again.length} ids sent twice`,
      );
      t.diagnostic(
        `effects: ${effects().length} for ${w.confirmed.size} tasks; runs: ${runs.length}; ` +
          `runs that found the effect done by another process: ${skipped}`,
      );
      assert.deepEqual(report.lost, []);
      assert.deepEqual(report.unexpected, []);
      assert.ok(killedAfterEffect > 0, 'workers died after effects, before their tasks finished');
      assert.ok(skipped > 0, 'redelivered runs found the effect done by the killed worker and skipped it');
      assert.ok(runs.length >= w.confirmed.size + again.length, 'tasks ran more than once');
      const wrong = [...w.confirmed].filter((id) => perId.get(id) !== 1).map((id) => `${id}: ${perId.get(id) ?? 0}`);
      assert.deepEqual(wrong, [], 'every task did its effect exactly once');
      assert.equal(effects().length, w.confirmed.size);
      // Every run returned the effect's value: the pid of the process that did it.
      const doneBy = new Map(effects().map((e) => [e.id, e.pid]));
      assert.deepEqual(
        runs.filter((r) => r.effectBy !== doneBy.get(r.id)),
        [],
      );
      assert.deepEqual(w.forbiddenLogLines(), []);
    },
  );
});
