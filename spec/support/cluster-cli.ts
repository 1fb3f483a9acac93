import { RabbitCluster } from './rabbit-cluster.js';
import { RabbitNode } from './rabbit-node.js';

/**
 * `npm run cluster:up` / `cluster:down`: the three-node RabbitMQ cluster the cluster specs use
 * (celeriac-c1..3 on 127.0.0.1:5681-5683), for trying celeriac against a cluster by hand:
 *
 *   CELERIAC_BROKER_URL='amqp://guest:guest@127.0.0.1:5681;amqp://guest:guest@127.0.0.1:5682;amqp://guest:guest@127.0.0.1:5683'
 *
 * The nodes run detached until `cluster:down`, which also stops the TLS cluster's nodes
 * (celeriac-t1..3, spec/cluster/tls-failover.test.ts) if an interrupted run left any. The shared
 * node on 5672 is not touched.
 */
const SIZE = 3;
const BASE_PORT = 5680;

const command = process.argv[2];
if (command === 'up') {
  const cluster = await RabbitCluster.start({ size: SIZE, basePort: BASE_PORT });
  console.log(`RabbitMQ cluster up: ${cluster.nodes.map((node) => `${node.node} on ${node.port}`).join(', ')}`);
  console.log(`broker list: ${cluster.brokerList}`);
} else if (command === 'down') {
  for (const prefix of ['celeriac-c', 'celeriac-t']) {
    for (let i = SIZE; i >= 1; i--) await RabbitNode.stopByName(`${prefix}${i}`);
  }
  console.log('RabbitMQ cluster down');
} else {
  console.error('usage: cluster-cli up|down');
  process.exit(2);
}
