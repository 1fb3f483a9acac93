/**
 * celeriac on a three-node RabbitMQ cluster (spec/support/rabbit-cluster.ts: celeriac-c1..3 on
 * 127.0.0.1:5681-5683, booted for each scenario and stopped after it, not timed), given to the
 * producer and the worker as a broker list (both connect to node 1 first). All three are opt-in
 * (--scenario NAME): booting a cluster takes half a minute or more. The broker CPU column sums
 * the three nodes' VMs. On one machine the nodes and the clients share its cores: what
 * replication costs the broker comes out of everyone's throughput.
 *
 * - celeriac-cluster-classic-roundtrip: celeriac-roundtrip with a classic task queue, which lives
 *   on one node (node 1, where the clients are): the baseline of the two below.
 * - celeriac-cluster-quorum-roundtrip: the same with a quorum task queue (led by node 1,
 *   replicated to the other two): 'vs floor' is what quorum queues cost in throughput.
 * - celeriac-cluster-failover: the quorum round trip with node 1 (both clients' node and the
 *   queue's leader) SIGKILLed KILL_AFTER_MS after 'go': both clients move to the next node, the
 *   queue to a new leader, unconfirmed sends are written again and the worker's unacked tasks
 *   run again. A note gives the longest time no result came in (the fail-over as the caller
 *   sees it); the run ends on two nodes.
 */
import { RabbitCluster } from '../support/rabbit-cluster.js';
import { runCeleriac, type Variant } from './celeriac-roundtrip.js';
import { LONGEST_RESULT_GAP } from './measure.js';
import type { BenchOptions, Scenario, ScenarioResult } from './scenario.js';

/** When the fail-over scenario kills the clients' node, after 'go'. */
const KILL_AFTER_MS = 2000;

/** Runs a celeriac scenario on a cluster booted for it; the cluster is stopped whatever happens. */
async function onCluster(
  scenario: string,
  variant: Omit<Variant, 'afterGo'>,
  options: BenchOptions,
  fault?: (cluster: RabbitCluster) => Promise<void>,
): Promise<ScenarioResult> {
  options.onProgress(scenario, 'booting a three-node RabbitMQ cluster (not timed)');
  const cluster = await RabbitCluster.start({ size: 3, basePort: 5680 });
  try {
    return await runCeleriac(
      scenario,
      { ...variant, ...(fault ? { afterGo: () => fault(cluster) } : {}) },
      { ...options, amqpUrl: cluster.brokerList, brokerPids: cluster.nodes.map((node) => node.pid) },
    );
  } finally {
    await cluster.stop();
  }
}

export const clusterScenarios: Scenario[] = [
  {
    name: 'celeriac-cluster-classic-roundtrip',
    description: 'celeriac-roundtrip on a 3-node RabbitMQ cluster (broker list), classic task queue (on one node)',
    optIn: true,
    run: (options) => onCluster('celeriac-cluster-classic-roundtrip', { mode: 'roundtrip', queueType: 'classic' }, options),
  },
  {
    name: 'celeriac-cluster-quorum-roundtrip',
    description: 'celeriac-roundtrip on a 3-node RabbitMQ cluster (broker list), quorum task queue (on all three)',
    floor: 'celeriac-cluster-classic-roundtrip',
    optIn: true,
    run: (options) => onCluster('celeriac-cluster-quorum-roundtrip', { mode: 'roundtrip', queueType: 'quorum' }, options),
  },
  {
    name: 'celeriac-cluster-failover',
    description: `celeriac-cluster-quorum-roundtrip, the clients' node (the queue's leader) SIGKILLed ${KILL_AFTER_MS / 1000} s after go`,
    floor: 'celeriac-cluster-classic-roundtrip',
    optIn: true,
    run: async (options) => {
      const result = await onCluster('celeriac-cluster-failover', { mode: 'roundtrip', queueType: 'quorum' }, options, async (cluster) => {
        await new Promise((resolve) => setTimeout(resolve, KILL_AFTER_MS));
        await cluster.node(1).kill();
        options.onProgress('celeriac-cluster-failover', 'node 1 killed');
      });
      const gap = Number(result.extra?.[LONGEST_RESULT_GAP]);
      // The producer starts sending at 'go', when the wait before the kill starts too.
      const when = result.seconds * 1000 > KILL_AFTER_MS ? 'while results were coming in' : 'after the last result (raise --n)';
      return {
        ...result,
        notes: [
          `node 1 (both clients' node, the queue's leader) SIGKILLed ${KILL_AFTER_MS / 1000} s after go, ${when}; ` +
            `longest time without a result ${Number.isFinite(gap) ? Math.round(gap) : '?'} ms; no broker CPU column (a node died)`,
          ...result.notes,
        ],
      };
    },
  },
];
