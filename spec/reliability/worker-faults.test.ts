import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { takeMessages } from '../support/apps.js';
import { waitFor } from '../support/faults.js';
import { Workload } from '../support/loss-checker.js';
import type { RunningProcess } from '../support/processes.js';

/**
 * Worker processes dying, stopping and hanging under load: `celeriac worker` processes on real
 * RabbitMQ and Redis, checked by the loss checker (spec/support/loss-checker.ts).
 */
describe('reliability: worker faults', () => {
  let workload: Workload | undefined;
  afterEach(async () => {
    await workload?.close();
    workload = undefined;
  });

  const runsBy = (w: Workload, worker: RunningProcess): number => w.executions().filter((r) => r.pid === worker.child.pid).length;

  it('SIGKILL of workers mid-task, three times under load: their unacked tasks run elsewhere, nothing lost', async (t) => {
    const w = (workload = new Workload());
    const workers = [
      await w.startWorker('k1', ['-c', '4']),
      await w.startWorker('k2', ['-c', '4']),
      await w.startWorker('k3', ['-c', '4']),
    ];
    const sending = w.send(400, 40);
    const kills: number[] = [];
    for (const [victim, threshold] of [
      [0, 60],
      [1, 160],
      [2, 260],
    ] as const) {
      await waitFor(() => w.executions().length >= threshold, `${threshold} runs`, 60_000, 20);
      assert.ok(runsBy(w, workers[victim]) > 0, 'the victim was running tasks');
      workers[victim].child.kill('SIGKILL');
      kills.push(Date.now());
      await workers[victim].exited;
      workers[victim] = await w.startWorker(`k${victim + 1}b`, ['-c', '4']);
    }
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`resume after each kill (first redelivered task started): ${kills.map((at) => `${w.resumeMs(at, true)} ms`).join(', ')}`);
    assert.deepEqual(report.lost, [], 'no confirmed task lost');
    assert.deepEqual(report.unexpected, []);
    assert.equal(report.failed, 0);
    assert.equal(report.confirmed, 400);
    assert.ok(report.redeliveredRuns > 0, 'the killed workers held unacked tasks that ran again elsewhere');
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('a task that kills every worker running it is dead-lettered after the redelivery limit; other tasks complete', async (t) => {
    const w = (workload = new Workload());
    const limit = 10; // the worker's default maxRedeliveries
    const pool = [await w.startWorker('p1', ['-c', '2']), await w.startWorker('p2', ['-c', '2'])];
    let restarts = 0;
    let stop = false;
    // Keep two workers alive: replace each one the poison kills.
    const keeper = (async () => {
      while (!stop) {
        for (let i = 0; i < pool.length; i++) {
          if (pool[i].child.exitCode === null && pool[i].child.signalCode === null) continue;
          restarts += 1;
          if (restarts > 3 * limit) throw new Error('the poison task keeps killing workers past its limit');
          pool[i] = await w.startWorker(`p${i + 1}r${restarts}`, ['-c', '2']);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const poisonId = crypto.randomUUID();
    w.attempted.set(poisonId, -1); // sent, and expected in the dead-letter queue rather than completed
    await w.producer.sendTask('rel.poison', [-1], {}, { taskId: poisonId });
    await w.send(30, 20);
    try {
      const [dead] = await takeMessages(w.producer.transport, `${w.queue}.dead-letter`, 1, 90_000);
      assert.equal(dead.properties.correlationId, poisonId);
      assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'redelivery-limit');
      assert.match(String(dead.properties.headers[DEAD_LETTER_HEADERS.error]), /started 11 times on redelivered messages \(limit 10\)/);
    } finally {
      stop = true;
      await keeper;
    }
    const poisonRuns = w.executions().filter((r) => r.id === poisonId).length;
    t.diagnostic(`poison runs: ${poisonRuns}, worker restarts: ${restarts}`);
    assert.equal(poisonRuns, limit + 1, 'ran once, then once per counted redelivered start');
    const report = await w.settle(30_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    for (const line of w.linesAbout(report.lost)) t.diagnostic(line);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('SIGTERM under load: running tasks finish, prefetched ones go back to the queue, none runs twice', async (t) => {
    const w = (workload = new Workload());
    const first = await w.startWorker('t1', ['-c', '4']);
    const second = await w.startWorker('t2', ['-c', '4']);
    const sending = w.send(120, 150);
    await waitFor(() => runsBy(w, first) >= 8, 'the first worker ran 8 tasks', 60_000, 20);
    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, 'exit code 0 after a warm shutdown');
    t.diagnostic(`warm shutdown took ${Date.now() - stoppedAt} ms`);
    const stopping = /stopping: (\d+) running, (\d+) waiting \(requeued\)/.exec(first.output());
    assert.ok(stopping, 'the worker logged what it finished and what it requeued');
    t.diagnostic(`at SIGTERM: ${stopping[1]} running, ${stopping[2]} waiting`);
    assert.ok(Number(stopping[1]) > 0, 'tasks were running at SIGTERM');
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.equal(report.duplicated, 0, 'no task was interrupted and run again');
    assert.ok(runsBy(w, second) > 0);
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('SIGSTOP beyond the heartbeat, then SIGCONT: the broker redelivers; the late worker logs its failed acks and goes on', async (t) => {
    const w = (workload = new Workload({ heartbeatSeconds: 1 }));
    const paused = await w.startWorker('s1', ['-c', '4']);
    const other = await w.startWorker('s2', ['-c', '4']);
    const sending = w.send(80, 400);
    await waitFor(() => runsBy(w, paused) >= 4, 'the paused-to-be worker ran 4 tasks', 60_000, 20);
    paused.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      // The broker drops the silent connection and hands its unacked tasks to the other worker.
      await waitFor(
        () => w.executions().some((r) => r.pid === other.child.pid && r.redelivered && r.started > stoppedAt),
        'a redelivered task on the other worker',
        30_000,
        50,
      );
    } finally {
      paused.child.kill('SIGCONT');
    }
    t.diagnostic(`redelivered work resumed on the other worker after ${w.resumeMs(stoppedAt, true)} ms`);
    await paused.waitFor(/could not be acked \(connection lost\)/, 20_000);
    await paused.waitFor(/connected \(consume\)/, 20_000);
    await sending;
    const report = await w.settle(60_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    assert.equal(paused.child.exitCode, null, 'the late worker is still running');
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.ok(report.duplicated > 0, 'tasks the paused worker finished late also ran on the other worker');
    assert.deepEqual(w.forbiddenLogLines(), []);
  });
});
