import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { waitFor } from '../support/faults.js';
import { FailoverHarness, type FailoverRun, type Placement } from '../support/failover-harness.js';
import {
  connectedCount,
  connectedPorts,
  longestConfirmPause,
  longestPause,
  loggedAt,
  ms,
  producerFailover,
  reconnectedAt,
  recoveredAfter,
  timedLineAt,
  workerFailover,
} from '../support/failover-figures.js';
import type { Report } from '../support/loss-checker.js';
import { FaultCluster } from '../support/fault-cluster.js';
import type { RabbitCluster } from '../support/rabbit-cluster.js';
import { RedisTlsServer } from '../support/redis-tls-server.js';

/**
 * The cluster faults of broker-failover.test.ts over TLS: three nodes that also listen for
 * amqps:// (client certificates required, certificates made with the cluster), a producer and a
 * `celeriac worker` given the three amqps:// URLs as a broker list, results over rediss:// to a
 * redis-server of this file's own (client certificates required too), a quorum task queue,
 * thousands of tasks and chords in flight (spec/support/failover-harness.ts), and each fault
 * once on one cluster: SIGKILL of the node the clients are on, `rabbitmqctl stop_app` of a node
 * and `start_app`, a node frozen with SIGSTOP past the heartbeat and resumed. The loss checker's
 * verdict is asserted; the figures are printed (docs/deployment.md quotes them), never asserted.
 *
 * The cluster is the one the cluster fault specs share (spec/support/fault-cluster.ts: nodes
 * celeriac-c1..3, plain AMQP on 5681-5683 for the spec's own queue declarations, TLS on
 * 5711-5713; booted once for the batch, or by this file when run alone), left whole and without
 * this file's queues in `after`. Redis on ports no other spec uses: 6397 (plain, the checker's)
 * and 6398 (TLS), with the cluster's certificates.
 */
const HEARTBEAT_S = 2;
const REDIS_PORT = 6397;
const REDISS_PORT = 6398;

describe('TLS fail-over: amqps:// broker list on a three-node cluster, rediss:// results', () => {
  let fault: FaultCluster | undefined;
  let redis: RedisTlsServer | undefined;
  let cluster: RabbitCluster | undefined;
  let harness: FailoverHarness;

  before(async () => {
    fault = await FaultCluster.acquire();
    cluster = fault.cluster;
    const { certs } = fault;
    redis = new RedisTlsServer({
      port: REDIS_PORT,
      tlsPort: REDISS_PORT,
      caFile: certs.ca,
      certFile: certs.server.cert,
      keyFile: certs.server.key,
      requireClientCertificate: true,
    });
    await redis.start();
    const client = { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key };
    harness = new FailoverHarness(cluster, {
      scheme: 'amqps',
      heartbeatSeconds: HEARTBEAT_S,
      // The producer's broker TLS as options, the worker's from the environment; both backends'
      // from the rediss:// URL's parameters (Celery's spelling).
      producerOptions: { brokerTls: client },
      workerEnv: {
        CELERIAC_BROKER_TLS_CA_FILE: client.caFile,
        CELERIAC_BROKER_TLS_CERT_FILE: client.certFile,
        CELERIAC_BROKER_TLS_KEY_FILE: client.keyFile,
      },
      workload: {
        backend:
          `${redis.tlsUrl}?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(client.caFile)}` +
          `&ssl_certfile=${encodeURIComponent(client.certFile)}&ssl_keyfile=${encodeURIComponent(client.keyFile)}`,
        checkerRedis: redis.plainUrl,
      },
    });
  });
  after(async () => {
    await harness?.close();
    // Its Redis by pid, whatever happened; the cluster restored (or stopped, if this file started it alone).
    await Promise.allSettled([redis?.stop(), fault?.release()]);
  });

  /**
   * A run under load as a fault finds it: the sends the producer is waiting on a confirm for
   * right now, and a wait for the worker's next consuming connection.
   */
  async function underLoad(placement: Placement) {
    const run = await harness.setUp(placement);
    const load = await harness.startLoad(run);
    const consumeLines = connectedCount(run.worker.output(), 'consume');
    const { workload } = run;
    const pending = [...workload.attempted.keys()].filter((id) => !workload.confirmed.has(id) && !workload.failed.has(id));
    return { run, load, pending, workerReconnected: () => reconnectedAt(run.worker, 'consume', consumeLines) };
  }

  /** Prints the verdict's figures and how the sends unconfirmed at the fault ended; each must have ended one way or the other. */
  function reportSends(t: TestContext, run: FailoverRun, report: Report, pending: string[]): void {
    const confirmed = pending.filter((id) => run.workload.confirmed.has(id)).length;
    const rejected = pending.filter((id) => run.workload.failed.has(id)).length;
    t.diagnostic(
      `lost ${report.lost.length}, duplicates ${report.duplicated} (runs beyond one), ${report.failed} sends rejected; ` +
        `${pending.length} sends unconfirmed at the fault: ${confirmed} confirmed by a node, ${rejected} rejected`,
    );
    assert.equal(confirmed + rejected, pending.length, 'every send unconfirmed at the fault was confirmed or rejected');
  }

  /** Time to recover, for a diagnostic line. */
  const recovery = (run: FailoverRun, faultAt: number): string =>
    `recovered (first task received on the next connection) ${ms(recoveredAfter(run.worker, faultAt))}`;

  /** A node the clients must be on, checked by the port of their latest "connected" lines. */
  function assertOn(run: FailoverRun, node: number): void {
    const ports = connectedPorts(run.worker.output());
    const producer = connectedPorts(run.producerLog.map((entry) => entry.line).join('\n'));
    assert.equal(ports.consume, harness.port(node), `the worker consumes on node ${node}'s TLS listener`);
    assert.equal(producer.publish, harness.port(node), `the producer publishes on node ${node}'s TLS listener`);
  }

  it('SIGKILL of the node the worker and producer are on: both move to the next node over TLS, nothing lost', async (t) => {
    const { run, load, pending, workerReconnected } = await underLoad({ leader: 2, worker: 1, producer: 1 });
    const killedAt = Date.now();
    await cluster!.node(1).kill();
    const reconnected = await workerReconnected();
    await harness.producerLogged(run, /connected \(publish\)$/, killedAt);
    assertOn(run, 2);
    const restarting = cluster!
      .node(1)
      .restart()
      .then(
        () => null,
        (error: unknown) => error,
      );
    const { report } = await harness.finish(t, run, load, reconnected);
    reportSends(t, run, report, pending);
    t.diagnostic(
      `worker: ${workerFailover(run.worker, killedAt)}; producer: ${producerFailover(run.producerLog, killedAt)}; ` +
        `${recovery(run, killedAt)} after the kill; longest pause in task starts ` +
        `${ms(longestPause(run.workload, killedAt))}, in confirms ${ms(longestConfirmPause(run.workload, killedAt))}`,
    );
    assert.equal(await restarting, null, 'node 1 restarted');
  });

  it('rabbitmqctl stop_app of the node everyone is on, which leads the queue, and start_app: all move on over TLS', async (t) => {
    const { run, load, pending, workerReconnected } = await underLoad({ leader: 3, worker: 3, producer: 3 });
    const stoppingAt = Date.now();
    try {
      await cluster!.node(3).stopApp();
      await workerReconnected();
      await harness.producerLogged(run, /connected \(publish\)$/, stoppingAt);
    } finally {
      await cluster!.node(3).startApp();
    }
    const backAt = Date.now();
    assertOn(run, 1);
    const { report } = await harness.finish(t, run, load, backAt);
    reportSends(t, run, report, pending);
    // rabbitmqctl takes seconds to act: the fault is when the first client saw its connection go.
    const lostAt = Math.min(
      loggedAt(run.worker.output(), / consume connection lost /, stoppingAt) ?? Infinity,
      timedLineAt(run.producerLog, /connection lost/, stoppingAt) ?? Infinity,
    );
    t.diagnostic(
      `worker: ${workerFailover(run.worker, lostAt)}; producer: ${producerFailover(run.producerLog, lostAt)} (from the first ` +
        `connection lost); ${recovery(run, lostAt)} after it; longest pause in task starts ` +
        `${ms(longestPause(run.workload, lostAt))}, in confirms ${ms(longestConfirmPause(run.workload, lostAt))}; ` +
        `node 3 back (start_app returned) ${ms(backAt - lostAt)} after`,
    );
  });

  it('a node frozen (SIGSTOP) past the heartbeat, then SIGCONT: TLS heartbeats notice, work goes on, nothing lost', async (t) => {
    const { run, load, pending, workerReconnected } = await underLoad({ leader: 3, worker: 2, producer: 2 });
    const { workload } = run;
    const pausedAt = Date.now();
    let frozenWorkAt = 0;
    cluster!.node(2).pause();
    try {
      await run.worker.waitFor(/consume connection lost \(Heartbeat timeout\)/, 60_000);
      await workerReconnected();
      const producerAt = await harness.producerLogged(run, /connected \(publish\)$/, pausedAt);
      // A task the producer sent after it moved on can only have reached the worker through a live node.
      await waitFor(
        () =>
          (frozenWorkAt = Math.min(
            ...workload
              .executions()
              .filter((r) => (workload.confirmedAt.get(r.id) ?? 0) > producerAt)
              .map((r) => r.started),
          )) < Infinity,
        'a task sent after the freeze to run while node 2 is frozen',
        60_000,
        20,
      );
    } finally {
      cluster!.node(2).resume();
    }
    const resumedAt = Date.now();
    assertOn(run, 3);
    const { report } = await harness.finish(t, run, load, resumedAt);
    reportSends(t, run, report, pending);
    t.diagnostic(
      `${HEARTBEAT_S} s heartbeat; worker: ${workerFailover(run.worker, pausedAt)}; producer: ` +
        `${producerFailover(run.producerLog, pausedAt)}; ${recovery(run, pausedAt)} after SIGSTOP; a task sent after the freeze ran ` +
        `${ms(frozenWorkAt - pausedAt)} after it; longest pause in task starts ${ms(longestPause(workload, pausedAt))}; ` +
        `node frozen ${ms(resumedAt - pausedAt)}; its deliveries ran again ${ms(workload.resumeMs(resumedAt, true))} after SIGCONT`,
    );
  });
});
