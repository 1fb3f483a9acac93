import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { waitFor } from '../support/faults.js';
import {
  connectedCount,
  connectedPorts,
  declareQuorumQueueOn,
  longestConfirmPause,
  loggedAt,
  longestPause,
  newLeader,
  reconnectedAt,
  runChords,
  sendUntil,
  timedLogger,
  type ChordLoad,
} from '../support/failover-load.js';
import { Workload, type Report } from '../support/loss-checker.js';
import type { RunningProcess } from '../support/processes.js';
import { RabbitCluster } from '../support/rabbit-cluster.js';

/**
 * Fail-over by URL alone: a producer and a `celeriac worker` process, each given the three
 * nodes as a broker list (round-robin, each list starting at the node the test wants the client
 * on), a quorum task queue led by a chosen node, thousands of tasks and chords in flight with
 * Redis results, and one fault per test. The loss checker's verdict is asserted (nothing lost,
 * every send settled, every sent chord's body ran with the right sum); the times are printed
 * (docs/deployment.md quotes them), never asserted.
 *
 * One cluster for the file (booting one takes ~30 s); a test that killed a node restarts it
 * while its load settles, and the next test starts by making the cluster whole again.
 */
const HEARTBEAT_S = 2;
/** Tasks run before the fault, and sent in all at least. */
const BEFORE_FAULT = 500;
const MIN_TASKS = 2000;
/** Tasks that must start after the clients recovered before the load stops. */
const AFTER_RECOVERY = 300;
const BATCH = 100;
const MIN_CHORDS = 20;
const CHORD_SIZE = 10;

interface Run {
  workload: Workload;
  worker: RunningProcess;
  producerLog: { at: number; line: string }[];
}

interface Load {
  sending: Promise<void>;
  chords: Promise<ChordLoad>;
  /** Ends the load once AFTER_RECOVERY tasks started after `recoveredAt` (and the minimums were sent). */
  stopAfter(recoveredAt: number): Promise<void>;
}

describe('broker fail-over on a three-node RabbitMQ cluster, quorum task queue', () => {
  let cluster: RabbitCluster;
  let current: Run | undefined;

  before(async () => {
    cluster = await RabbitCluster.start({ size: 3, basePort: 5680 });
  });
  after(async () => {
    await current?.workload.close();
    await cluster?.stop();
  });

  /** Every node running and resumed, then a workload whose queue `leader` leads and whose clients start where asked. */
  async function setUp(nodes: { leader: number; worker: number; producer: number }): Promise<Run> {
    await current?.workload.close();
    current = undefined;
    for (const node of cluster.nodes) {
      if (node.isRunning) node.resume();
      else await node.restart();
    }
    await cluster.awaitRunning(cluster.nodes);
    const log = timedLogger();
    const workload = new Workload({
      producerBroker: cluster.brokerListFrom(nodes.producer),
      workerBroker: cluster.brokerListFrom(nodes.worker),
      heartbeatSeconds: HEARTBEAT_S,
      queueType: 'quorum',
      producerOptions: { logger: log.logger, confirmTimeout: '60s' },
    });
    current = { workload, worker: undefined as unknown as RunningProcess, producerLog: log.lines };
    await declareQuorumQueueOn(cluster.node(nodes.leader), workload.queue);
    current.worker = await workload.startWorker('failover', ['-c', '16']);
    assert.equal(connectedPorts(current.worker.output()).consume, cluster.node(nodes.worker).port, 'the worker is on its first node');
    return current;
  }

  /** Tasks and chords sent without pause until told to stop; resolves once BEFORE_FAULT tasks ran. */
  async function startLoad(run: Run): Promise<Load> {
    const { workload } = run;
    let stopped = false;
    const done = (): boolean => stopped;
    const load: Load = {
      sending: sendUntil(workload, BATCH, MIN_TASKS, done),
      chords: runChords(workload.producer, CHORD_SIZE, MIN_CHORDS, done),
      stopAfter: async (recoveredAt) => {
        await waitFor(
          () => workload.executions().filter((r) => r.started > recoveredAt).length >= AFTER_RECOVERY,
          `${AFTER_RECOVERY} tasks to start after the recovery`,
          120_000,
          50,
        );
        stopped = true;
      },
    };
    await waitFor(() => workload.executions().length >= BEFORE_FAULT, `${BEFORE_FAULT} runs before the fault`, 120_000, 20);
    return load;
  }

  /**
   * Ends the load once work went on after the recovery, waits for every confirmed task to
   * complete; prints and checks the verdict.
   */
  async function finish(t: TestContext, run: Run, load: Load, recoveredAt: number): Promise<{ report: Report; chords: ChordLoad }> {
    await load.stopAfter(recoveredAt);
    await load.sending;
    const chords = await load.chords;
    const report = await run.workload.settle(120_000);
    t.diagnostic(`checker: ${Workload.summary(report)}`);
    t.diagnostic(`chords: ${JSON.stringify({ ...chords, lost: chords.lost.length })}`);
    for (const line of run.workload.linesAbout(report.lost)) t.diagnostic(line);
    for (const line of chords.lost) t.diagnostic(`chord lost: ${line}`);
    for (const [id, error] of [...run.workload.failed].slice(0, 3)) t.diagnostic(`failed send ${id}: ${error}`);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.equal(report.confirmed + report.failed, report.attempted, 'every send settled: confirmed, or rejected to its caller');
    assert.deepEqual(chords.lost, [], "every sent chord's body ran with the right sum");
    assert.equal(chords.sent + chords.failedToSend, chords.attempted);
    assert.equal(run.worker.child.exitCode, null, 'the worker process is alive');
    assert.deepEqual(run.workload.forbiddenLogLines(), []);
    return { report, chords };
  }

  /** When the producer logged a line matching `pattern` at or after `since` (waits for it). */
  async function producerLogged(run: Run, pattern: RegExp, since: number): Promise<number> {
    let at = 0;
    await waitFor(
      () => {
        at = run.producerLog.find((entry) => entry.at >= since && pattern.test(entry.line))?.at ?? 0;
        return at > 0;
      },
      `the producer to log ${pattern}`,
      60_000,
      20,
    );
    return at;
  }

  /** "lost its connection X after the fault, connected to the next node Y later", from the producer's log. */
  function producerFailover(run: Run, faultAt: number): string {
    const lost = run.producerLog.find((entry) => entry.at >= faultAt && / publish connection lost /.test(entry.line))?.at;
    const connected = run.producerLog.find((entry) => entry.at >= faultAt && entry.line.endsWith('connected (publish)'))?.at;
    if (lost === undefined || connected === undefined) return 'no fail-over logged';
    return `connection lost ${ms(lost - faultAt)} after the fault, connected to the next node ${ms(connected - lost)} later`;
  }

  /** The same for the worker's consuming connection, from its log. */
  function workerFailover(worker: RunningProcess, faultAt: number): string {
    const lost = loggedAt(worker.output(), / consume connection lost /, faultAt);
    const connected = loggedAt(worker.output(), /connected \(consume\)/, faultAt);
    if (lost === null || connected === null) return 'no fail-over logged';
    return `connection lost ${ms(lost - faultAt)} after the fault, restored on the next node ${ms(connected - lost)} later`;
  }

  const ms = (value: number | null): string => (value === null ? 'n/a' : `${Math.round(value)} ms`);

  it('SIGKILL of the node the worker is connected to: the worker moves to the next node and resumes, nothing lost', async (t) => {
    const run = await setUp({ leader: 2, worker: 1, producer: 3 });
    const load = await startLoad(run);
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
    await finish(t, run, load, recoveredAt);
    t.diagnostic(
      `worker: ${workerFailover(run.worker, killedAt)}; first redelivered task ${ms(run.workload.resumeMs(killedAt, true))} ` +
        `after the kill; longest pause in task starts ${ms(longestPause(run.workload, killedAt))}`,
    );
    assert.equal(await restarting, null, 'node 1 restarted');
  });

  it('SIGKILL of the node leading the task queue: a follower takes over, clients stay on their nodes, nothing lost', async (t) => {
    const run = await setUp({ leader: 3, worker: 1, producer: 2 });
    assert.equal(await cluster.leaderOf(run.workload.queue), cluster.node(3), 'the declaring node leads the queue');
    const load = await startLoad(run);
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
    await finish(t, run, load, recoveredAt);
    const reconnects = connectedCount(run.worker.output(), 'consume') - connectedCount(workerLines, 'consume');
    t.diagnostic(
      `new leader ${leader.name}; longest pause in task starts ${ms(longestPause(run.workload, killedAt))}, in confirms ` +
        `${ms(longestConfirmPause(run.workload, killedAt))}; worker reconnects: ${reconnects}`,
    );
    assert.equal(await restarting, null, 'node 3 restarted');
  });

  it('rabbitmqctl stop_app of the node everyone is on and that leads the queue, then start_app: all move on, nothing lost', async (t) => {
    const run = await setUp({ leader: 1, worker: 1, producer: 1 });
    const load = await startLoad(run);
    const consumeLines = connectedCount(run.worker.output(), 'consume');
    const stoppingAt = Date.now();
    try {
      await cluster.node(1).stopApp();
      await reconnectedAt(run.worker, 'consume', consumeLines);
      await producerLogged(run, /connected \(publish\)$/, stoppingAt);
    } finally {
      await cluster.node(1).startApp();
    }
    const backAt = Date.now();
    await finish(t, run, load, backAt);
    // rabbitmqctl takes seconds to act: the fault is when the first client saw its connection go.
    const lostAt = Math.min(
      loggedAt(run.worker.output(), / consume connection lost /, stoppingAt) ?? Infinity,
      run.producerLog.find((entry) => entry.at >= stoppingAt && /connection lost/.test(entry.line))?.at ?? Infinity,
    );
    const pauses = `${ms(longestPause(run.workload, lostAt))}, in confirms ${ms(longestConfirmPause(run.workload, lostAt))}`;
    t.diagnostic(
      `worker: ${workerFailover(run.worker, lostAt)}; producer: ${producerFailover(run, lostAt)} (from the first connection lost); ` +
        `longest pause in task starts ${pauses}; node 1 back (start_app returned) ${ms(backAt - lostAt)} after`,
    );
    assert.equal(connectedPorts(run.worker.output()).consume, cluster.node(2).port);
  });

  it('a node frozen (SIGSTOP) past the heartbeat: heartbeats notice, work goes on, its deliveries come back on SIGCONT', async (t) => {
    const run = await setUp({ leader: 3, worker: 2, producer: 2 });
    const { workload } = run;
    const load = await startLoad(run);
    const pausedAt = Date.now();
    let producerAt = 0;
    let frozenWorkAt = 0;
    cluster.node(2).pause();
    try {
      await run.worker.waitFor(/consume connection lost \(Heartbeat timeout\)/, 60_000);
      producerAt = await producerLogged(run, /connected \(publish\)$/, pausedAt);
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
    await finish(t, run, load, resumedAt);
    t.diagnostic(
      `${HEARTBEAT_S} s heartbeat; worker: ${workerFailover(run.worker, pausedAt)}; producer: ${producerFailover(run, pausedAt)}; ` +
        `longest pause in task starts ${ms(longestPause(workload, pausedAt))}; a task sent after the freeze ran ` +
        `${ms(frozenWorkAt - pausedAt)} after SIGSTOP; node frozen ${ms(resumedAt - pausedAt)}; its deliveries ran again ` +
        `${ms(workload.resumeMs(resumedAt, true))} after SIGCONT`,
    );
    assert.equal(connectedPorts(run.worker.output()).consume, cluster.node(3).port);
  });

  it("SIGKILL of the producer's node, which leads the queue, with sends unconfirmed: each confirmed elsewhere or rejected", async (t) => {
    // The leader dies with it: the producer reaches the next node before a new leader is elected
    // (RabbitMQ 3.10 nacks there, on a channel that keeps nacking: the publisher moves to a new one).
    const run = await setUp({ leader: 3, worker: 1, producer: 3 });
    const { workload } = run;
    // One batch sent at once (no window): thousands of sends unconfirmed at any moment.
    const batch = 3000;
    let stopped = false;
    const load: Load = {
      sending: workload.send(batch, 2, batch),
      chords: runChords(workload.producer, CHORD_SIZE, MIN_CHORDS, () => stopped),
      stopAfter: async () => {
        stopped = true;
      },
    };
    await waitFor(() => workload.confirmed.size >= 200, '200 sends confirmed', 120_000, 5);
    const unconfirmed = workload.attempted.size - workload.confirmed.size - workload.failed.size;
    const killedAt = Date.now();
    await cluster.node(3).kill();
    const recoveredAt = await producerLogged(run, /connected \(publish\)$/, killedAt);
    const { report } = await finish(t, run, load, recoveredAt);
    t.diagnostic(
      `${unconfirmed} of ${batch} sends unconfirmed at the kill; producer: ${producerFailover(run, killedAt)}; ` +
        `longest pause in confirms ${ms(longestConfirmPause(workload, killedAt))}; ${report.failed} rejected, ` +
        `${report.duplicated} runs beyond one (sends the dead node had taken, written again)`,
    );
    assert.ok(unconfirmed > 0, 'the kill hit sends in flight');
    assert.equal(connectedPorts(run.producerLog.map((entry) => entry.line).join('\n')).publish, cluster.node(1).port);
  });
});
