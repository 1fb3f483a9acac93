import { FaultCluster } from './fault-cluster.js';
import { RabbitNode } from './rabbit-node.js';

/**
 * `npm run cluster:up` / `cluster:down`: the three-node RabbitMQ cluster the cluster fault specs
 * share (spec/support/fault-cluster.ts: celeriac-c1..3 on 127.0.0.1:5681-5683, amqps:// with
 * client certificates on 5711-5713), for trying celeriac against a cluster by hand:
 *
 *   CELERIAC_BROKER_URL='amqp://guest:guest@127.0.0.1:5681;amqp://guest:guest@127.0.0.1:5682;amqp://guest:guest@127.0.0.1:5683'
 *
 * `up` starts it, or takes over the one a spec run left up, and marks it the user's: spec runs
 * then use it and leave it up. The nodes run detached until `down`, which stops them whoever
 * started them, and also the nodes of the TLS cluster earlier versions of the specs started
 * (celeriac-t1..3) if an interrupted run left any. `down --after-specs` (spec/run.mjs, after the
 * cluster batch) stops the cluster unless `up` started it. The shared node on 5672 is not touched.
 */
const LEGACY_TLS_NODES = ['celeriac-t1', 'celeriac-t2', 'celeriac-t3'];

const [command, ...flags] = process.argv.slice(2);
if (command === 'up') {
  const fault = await FaultCluster.acquire('user');
  for (const line of fault.summary()) console.log(line);
} else if (command === 'down') {
  const outcome = await FaultCluster.down({ unlessUser: flags.includes('--after-specs') });
  await Promise.all(LEGACY_TLS_NODES.map((name) => RabbitNode.stopByName(name)));
  console.log(outcome === 'stopped' ? 'RabbitMQ cluster down' : 'RabbitMQ cluster left up (started by npm run cluster:up)');
} else {
  console.error('usage: cluster-cli up | down [--after-specs]');
  process.exit(2);
}
