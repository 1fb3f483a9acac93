import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/faults.js';
import { FailoverHarness } from '../support/failover-harness.js';
import {
  connectedCount,
  connectedPorts,
  longestConfirmPause,
  loggedAt,
  longestPause,
  ms,
  producerFailover,
  reconnectedAt,
  timedLineAt,
  workerFailover,
} from '../support/failover-figures.js';
import { newLeader } from '../support/failover-load.js';
import { FaultCluster } from '../support/fault-cluster.js';
import type { RabbitCluster } from '../support/rabbit-cluster.js';

/**
 * Fail-over by URL alone: a producer and a `celeriac worker` process, each given the three
 * nodes as a broker list (round-robin, each list starting at the node the test wants the client
 * on), a quorum task queue led by a chosen node, thousands of tasks and chords in flight with
 * Redis results, and one fault per test (spec/support/failover-harness.ts runs the load and
 * checks the loss checker's verdict). The times are printed (docs/deployment.md quotes them),
 * never asserted.
 *
 * The cluster is the one the cluster fault specs share (spec/support/fault-cluster.ts: booted
 * once for the batch, or by this file when run alone); a test that killed a node restarts it
 * while its load settles, the next test starts by making the cluster whole again, and `after`
 * leaves it whole, without this file's queues, whatever a test failed to undo.
 */
const HEARTBEAT_S = 2;

describe('broker fail-over on a three-node RabbitMQ cluster, quorum task queue', () => {
  let fault: FaultCluster | undefined;
  let cluster: RabbitCluster;
  let harness: FailoverHarness;

  before(async () => {
    fault = await FaultCluster.acquire();
    cluster = fault.cluster;
    harness = new FailoverHarness(cluster, { heartbeatSeconds: HEARTBEAT_S });
  });
  after(async () => {
    await harness?.close();
    await fault?.release();
  });

  it('SIGKILL of the node the worker is connected to: the worker moves to the next node and resumes, nothing lost', async (t) => {
    const run = await harness.setUp({ leader: 2, worker: 1, producer: 3 });
    const load = await harness.startLoad(run);
    const consumeLines = connectedCount(run.worker.output(), 'consume');
    const killedAt = Date.now();
    await cluster.node(1).kill();
    const recoveredAt = await reconnectedAt(run.worker, 'consume', consumeLines);
    assert.equal(connectedPorts(run.worker.output()).consume, cluster.node(2).port, 'round-robin: on to node 2');
    const restarting = cluster
      .node(1)
      .restart()
      .then(
        () => null,
        (error: unknown) => error,
      );
    await harness.finish(t, run, load, recoveredAt);
    t.diagnostic(
      `worker: ${workerFailover(run.worker, killedAt)}; first redelivered task ${ms(run.workload.resumeMs(killedAt, true))} ` +
        `after the kill; longest pause in task starts ${ms(longestPause(run.workload, killedAt))}`,
    );
    assert.equal(await restarting, null, 'node 1 restarted');
  });

  it('SIGKILL of the node leading the task queue: a follower takes over, clients stay on their nodes, nothing lost', async (t) => {
    const run = await harness.setUp({ leader: 3, worker: 1, producer: 2 });
    assert.equal(await cluster.leaderOf(run.workload.queue), cluster.node(3), 'the declaring node leads the queue');
    const load = await harness.startLoad(run);
    const workerLines = run.worker.output();
    const killedAt = Date.now();
    await cluster.node(3).kill();
    const leader = await newLeader(cluster, run.workload.queue, cluster.node(3));
    const recoveredAt = Date.now();
    const restarting = cluster
      .node(3)
      .restart()
      .then(
        () => null,
        (error: unknown) => error,
      );
    await harness.finish(t, run, load, recoveredAt);
    const reconnects = connectedCount(run.worker.output(), 'consume') - connectedCount(workerLines, 'consume');
    t.diagnostic(
      `new leader ${leader.name}; longest pause in task starts ${ms(longestPause(run.workload, killedAt))}, in confirms ` +
        `${ms(longestConfirmPause(run.workload, killedAt))}; worker reconnects: ${reconnects}`,
    );
    assert.equal(await restarting, null, 'node 3 restarted');
  });

  it('rabbitmqctl stop_app of the node everyone is on and that leads the queue, then start_app: all move on, nothing lost', async (t) => {
    const run = await harness.setUp({ leader: 1, worker: 1, producer: 1 });
    const load = await harness.startLoad(run);
    const consumeLines = connectedCount(run.worker.output(), 'consume');
    const stoppingAt = Date.now();
    try {
      await cluster.node(1).stopApp();
      await reconnectedAt(run.worker, 'consume', consumeLines);
      await harness.producerLogged(run, /connected \(publish\)$/, stoppingAt);
    } finally {
      await cluster.node(1).startApp();
    }
    const backAt = Date.now();
    await harness.finish(t, run, load, backAt);
    // rabbitmqctl takes seconds to act: the fault is when the first client saw its connection go.
    const lostAt = Math.min(
      loggedAt(run.worker.output(), / consume connection lost /, stoppingAt) ?? Infinity,
      timedLineAt(run.producerLog, /connection lost/, stoppingAt) ?? Infinity,
    );
    const pauses = `${ms(longestPause(run.workload, lostAt))}, in confirms ${ms(longestConfirmPause(run.workload, lostAt))}`;
    t.diagnostic(
      `worker: ${workerFailover(run.worker, lostAt)}; producer: ${producerFailover(run.producerLog, lostAt)} ` +
        '(from the first connection lost); ' +
        `longest pause in task starts ${pauses}; node 1 back (start_app returned) ${ms(backAt - lostAt)} after`,
    );
    assert.equal(connectedPorts(run.worker.output()).consume, cluster.node(2).port);
  });

  it('a node frozen (SIGSTOP) past the heartbeat: heartbeats notice, work goes on, its deliveries come back on SIGCONT', async (t) => {
    const run = await harness.setUp({ leader: 3, worker: 2, producer: 2 });
    const { workload } = run;
    const load = await harness.startLoad(run);
    const pausedAt = Date.now();
    let producerAt = 0;
    let frozenWorkAt = 0;
    cluster.node(2).pause();
    try {
      await run.worker.waitFor(/consume connection lost \(Heartbeat timeout\)/, 60_000);
      producerAt = await harness.producerLogged(run, /connected \(publish\)$/, pausedAt);
      // A task the producer sent after it moved on can only have reached the worker through a live node.
      await waitFor(
        () => {
          frozenWorkAt =
            workload
              .executions()
              .filter((r) => (workload.confirmedAt.get(r.id) ?? 0) > producerAt)
              .map((r) => r.started)
              .sort((a, b) => a - b)[0] ?? 0;
          return frozenWorkAt > 0;
        },
        'a task sent after the freeze to run while node 2 is frozen',
        60_000,
        20,
      );
    } finally {
      cluster.node(2).resume();
    }
    const resumedAt = Date.now();
    await harness.finish(t, run, load, resumedAt);
    t.diagnostic(
      `${HEARTBEAT_S} s heartbeat; worker: ${workerFailover(run.worker, pausedAt)}; ` +
        `producer: ${producerFailover(run.producerLog, pausedAt)}; ` +
        `longest pause in task starts ${ms(longestPause(workload, pausedAt))}; a task sent after the freeze ran ` +
        `${ms(frozenWorkAt - pausedAt)} after SIGSTOP; node frozen ${ms(resumedAt - pausedAt)}; its deliveries ran again ` +
        `${ms(workload.resumeMs(resumedAt, true))} after SIGCONT`,
    );
    assert.equal(connectedPorts(run.worker.output()).consume, cluster.node(3).port);
  });

  it("SIGKILL of the producer's node, which leads the queue, with sends unconfirmed: each confirmed elsewhere or rejected", async (t) => {
    // The leader dies with it: the producer reaches the next node before a new leader is elected
    // (RabbitMQ 3.10 nacks there, on a channel that keeps nacking: the publisher moves to a new one).
    const run = await harness.setUp({ leader: 3, worker: 1, producer: 3 });
    const { workload } = run;
    const batch = 3000;
    const load = harness.oneBatch(run, batch);
    await waitFor(() => workload.confirmed.size >= 200, '200 sends confirmed', 120_000, 5);
    const unconfirmed = workload.attempted.size - workload.confirmed.size - workload.failed.size;
    const killedAt = Date.now();
    await cluster.node(3).kill();
    const recoveredAt = await harness.producerLogged(run, /connected \(publish\)$/, killedAt);
    const { report } = await harness.finish(t, run, load, recoveredAt);
    t.diagnostic(
      `${unconfirmed} of ${batch} sends unconfirmed at the kill; producer: ${producerFailover(run.producerLog, killedAt)}; ` +
        `longest pause in confirms ${ms(longestConfirmPause(workload, killedAt))}; ${report.failed} rejected, ` +
        `${report.duplicated} runs beyond one (sends the dead node had taken, written again)`,
    );
    assert.ok(unconfirmed > 0, 'the kill hit sends in flight');
    assert.equal(connectedPorts(run.producerLog.map((entry) => entry.line).join('\n')).publish, cluster.node(1).port);
  });
});
