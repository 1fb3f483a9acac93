import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { AppOptions } from '../../lib/index.js';
import { waitFor } from './faults.js';
import { connectedPorts, timedLineAt, type TimedLine } from './failover-figures.js';
import { declareQuorumQueueOn, runChords, sendUntil, timedLogger, type ChordLoad } from './failover-load.js';
import { Workload, type Report, type WorkloadOptions } from './loss-checker.js';
import type { RunningProcess } from './processes.js';
import type { AmqpScheme, RabbitCluster } from './rabbit-cluster.js';

/**
 * One fault at a time on a running cluster, as the cluster fault specs inject them: a producer
 * and a `celeriac worker` process, each given every node as a broker list (round-robin, each
 * list starting at the node the test wants the client on), a quorum task queue led by a chosen
 * node, thousands of `rel.work` tasks and chords in flight with Redis results, and the loss
 * checker's verdict at the end (nothing lost, every send settled, every sent chord's body ran
 * with the right sum). The spec injects the fault between `startLoad` and `finish`.
 *
 * Invariants: one run at a time (`setUp` closes the previous one); `setUp` makes the cluster
 * whole first (`RabbitCluster.heal()`: a killed node restarted, a frozen one resumed, a stopped
 * app started), so tests share a cluster in any order, and so do files (fault-cluster.ts); times
 * are printed by the spec, never asserted.
 */
export interface FailoverHarnessOptions {
  /** amqp:// to the nodes' plain listeners (default) or amqps:// to their TLS ones. */
  scheme?: AmqpScheme;
  heartbeatSeconds: number;
  /** The workload beyond its brokers, heartbeat and queue type (results backend, the checker's Redis). */
  workload?: Omit<WorkloadOptions, 'producerBroker' | 'workerBroker' | 'heartbeatSeconds' | 'queueType' | 'producerOptions'>;
  /** The producer's app options beyond its logger and confirm timeout (TLS settings). */
  producerOptions?: AppOptions;
  /** The worker process's environment beyond the workload's (TLS settings). */
  workerEnv?: NodeJS.ProcessEnv;
}

/** Which node leads the task queue and which node each client starts on (1-based). */
export interface Placement {
  leader: number;
  worker: number;
  producer: number;
}

export interface FailoverRun {
  workload: Workload;
  worker: RunningProcess;
  producerLog: TimedLine[];
}

export interface FailoverLoad {
  sending: Promise<void>;
  chords: Promise<ChordLoad>;
  /** Ends the load once AFTER_RECOVERY tasks started after `recoveredAt` (and the minimums were sent). */
  stopAfter(recoveredAt: number): Promise<void>;
}

/** Tasks run before the fault, and sent in all at least. */
const BEFORE_FAULT = 500;
const MIN_TASKS = 2000;
/** Tasks that must start after the clients recovered before the load stops. */
const AFTER_RECOVERY = 300;
const BATCH = 100;
const MIN_CHORDS = 20;
export const CHORD_SIZE = 10;

export class FailoverHarness {
  private current: FailoverRun | undefined;
  readonly scheme: AmqpScheme;

  constructor(
    readonly cluster: RabbitCluster,
    private readonly options: FailoverHarnessOptions,
  ) {
    this.scheme = options.scheme ?? 'amqp';
  }

  /** The port clients of this harness reach node `index` on (1-based). */
  port(index: number): number {
    return this.cluster.node(index).portFor(this.scheme);
  }

  /** Every node running and resumed, then a workload whose queue `leader` leads and whose clients start where asked. */
  async setUp(placement: Placement): Promise<FailoverRun> {
    await this.close();
    const { cluster } = this;
    await cluster.heal();
    const log = timedLogger();
    const workload = new Workload({
      ...this.options.workload,
      producerBroker: cluster.brokerListFrom(placement.producer, this.scheme),
      workerBroker: cluster.brokerListFrom(placement.worker, this.scheme),
      heartbeatSeconds: this.options.heartbeatSeconds,
      queueType: 'quorum',
      producerOptions: { ...this.options.producerOptions, logger: log.logger, confirmTimeout: '60s' },
    });
    const run: FailoverRun = { workload, worker: undefined as unknown as RunningProcess, producerLog: log.lines };
    this.current = run;
    await declareQuorumQueueOn(cluster.node(placement.leader), workload.queue);
    run.worker = await workload.startWorker('failover', ['-c', '16'], this.options.workerEnv);
    assert.equal(connectedPorts(run.worker.output()).consume, this.port(placement.worker), 'the worker is on its first node');
    return run;
  }

  /** Tasks and chords sent without pause until told to stop; resolves once BEFORE_FAULT tasks ran. */
  async startLoad(run: FailoverRun): Promise<FailoverLoad> {
    const { workload } = run;
    let stopped = false;
    const done = (): boolean => stopped;
    const load: FailoverLoad = {
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

  /** A load of one batch of `batch` sends written at once (no window: thousands unconfirmed at any moment), chords beside it. */
  oneBatch(run: FailoverRun, batch: number): FailoverLoad {
    let stopped = false;
    return {
      sending: run.workload.send(batch, 2, batch),
      chords: runChords(run.workload.producer, CHORD_SIZE, MIN_CHORDS, () => stopped),
      stopAfter: async () => {
        stopped = true;
      },
    };
  }

  /**
   * Ends the load once work went on after the recovery, waits for every confirmed task to
   * complete; prints and checks the verdict.
   */
  async finish(t: TestContext, run: FailoverRun, load: FailoverLoad, recoveredAt: number): Promise<{ report: Report; chords: ChordLoad }> {
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
  async producerLogged(run: FailoverRun, pattern: RegExp, since: number): Promise<number> {
    let at: number | null = null;
    await waitFor(() => (at = timedLineAt(run.producerLog, pattern, since)) !== null, `the producer to log ${pattern}`, 60_000, 20);
    return at ?? 0;
  }

  /** Closes the current run's workload (worker process, queues, connections). */
  async close(): Promise<void> {
    const run = this.current;
    this.current = undefined;
    await run?.workload.close();
  }
}
