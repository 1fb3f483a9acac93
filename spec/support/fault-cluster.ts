import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import amqp from 'amqplib';
import { RabbitCluster, type RabbitClusterOptions } from './rabbit-cluster.js';
import { makeTestCertificates } from './tls-certs.js';

/**
 * The three-node RabbitMQ cluster the cluster fault specs share (broker-failover.test.ts,
 * tls-failover.test.ts): nodes celeriac-c1..3 with plain AMQP on 127.0.0.1:5681-5683,
 * amqps:// on 5711-5713 (client certificates required; the certificates are made once with the
 * cluster and kept beside it) and Erlang distribution on 25681-25683. Booting a cluster takes
 * ~20 s on a busy 2-core machine, so a spec batch boots one and every file uses it in turn:
 *
 * - `FaultCluster.acquire()` attaches to the cluster the marker file names (/tmp/celeriac-rabbit/
 *   fault-cluster.json: nodes, ports, pids, certificates) if its nodes' folders are still this
 *   cluster's, and heals it; otherwise it stops whatever runs under those names and starts a
 *   fresh cluster. Either way it resolves once the cluster is healthy.
 * - `release()` (in the file's `after`, after its clients are closed) restores the cluster and
 *   leaves it up when `CELERIAC_SPEC_KEEP_CLUSTER=1` (spec/run.mjs sets it for the cluster batch
 *   and stops the cluster after the batch: `cluster-cli down --after-specs`) or when it attached
 *   to a cluster it did not start; a file run alone stops the cluster it started.
 * - `restore()` makes the cluster whole whatever a test did or failed to undo (RabbitCluster's
 *   `heal()`), and deletes the file's queues; a cluster that cannot be healed is replaced by a
 *   fresh one. `npm run cluster:up` starts (or attaches to) the same cluster and marks it the
 *   user's, so spec runs leave it up.
 *
 * Invariant between two files: every node running and clustered, no partition, no alarm, every
 * listener open, no spec queue (`spec.*`) left, and the marker naming every node's current pid.
 * One process at a time acts on the cluster (spec/run.mjs runs spec/cluster one file at a time).
 */
export const KEEP_CLUSTER_ENV = 'CELERIAC_SPEC_KEEP_CLUSTER';

const SIZE = 3;
const PREFIX = 'celeriac-c';
const BASE_PORT = 5680;
const TLS_BASE_PORT = 5710;
/** The RabbitNode default folder: the marker lives beside the nodes' folders. */
const MARKER = '/tmp/celeriac-rabbit/fault-cluster.json';
/** The certificates are valid for two days: a cluster older than one is replaced. */
const MAX_AGE_MS = 24 * 3600_000;

/** The files a TLS client and server of the cluster use (all signed by one CA). */
export interface ClusterCertificates {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}

/** Who started the cluster: the specs stop theirs after the batch; a user's stays up. */
type Owner = 'specs' | 'user';

/** The marker file: enough to find, check and stop the cluster from another process. */
interface Marker {
  nodes: { name: string; port: number; tlsPort: number | null; pid: number }[];
  certs: ClusterCertificates;
  startedAt: string;
  owner: Owner;
}

function clusterOptions(certs: ClusterCertificates): RabbitClusterOptions {
  return {
    size: SIZE,
    basePort: BASE_PORT,
    prefix: PREFIX,
    tls: {
      basePort: TLS_BASE_PORT,
      caFile: certs.ca,
      certFile: certs.server.cert,
      keyFile: certs.server.key,
      requireClientCertificate: true,
    },
  };
}

export class FaultCluster {
  #cluster: RabbitCluster;
  #certs: ClusterCertificates;
  #marker: Marker;
  /** True when this object started the cluster (rather than attaching to a running one). */
  readonly #started: boolean;

  private constructor(cluster: RabbitCluster, certs: ClusterCertificates, marker: Marker, started: boolean) {
    this.#cluster = cluster;
    this.#certs = certs;
    this.#marker = marker;
    this.#started = started;
  }

  get cluster(): RabbitCluster {
    return this.#cluster;
  }

  /** CA, server and client certificates of the TLS listeners (a file may use them for servers of its own). */
  get certs(): ClusterCertificates {
    return this.#certs;
  }

  /** The shared cluster, healthy: the running one if the marker's nodes still run, else a fresh one. */
  static async acquire(owner: Owner = 'specs'): Promise<FaultCluster> {
    // A cluster `npm run cluster:up` started stays the user's, even if it has to be replaced.
    const claimed = owner === 'user' || readMarker()?.owner === 'user' ? 'user' : 'specs';
    const attached = await FaultCluster.attach();
    if (attached) {
      attached.#marker.owner = claimed;
      attached.writeMarker();
      return attached;
    }
    return FaultCluster.startFresh(claimed);
  }

  /**
   * Stops the shared cluster and removes its certificates and marker; with `unlessUser`, leaves
   * one `npm run cluster:up` started. Stops the nodes by name even without a marker (an
   * interrupted run). Never throws.
   */
  static async down({ unlessUser = false } = {}): Promise<'stopped' | 'left up'> {
    const marker = readMarker();
    if (unlessUser && marker?.owner === 'user') return 'left up';
    await RabbitCluster.define({ size: SIZE, basePort: BASE_PORT, prefix: PREFIX }).stop();
    if (marker) rmSync(marker.certs.dir, { recursive: true, force: true });
    rmSync(MARKER, { force: true });
    return 'stopped';
  }

  /**
   * The cluster the marker names, healed, if it is young enough and each node's folder still
   * holds the config this cluster gave it: a node that died (a file killed half-way) is
   * restarted on its data, while nodes of the same names started since with other options (a
   * benchmark's) are not this cluster.
   */
  private static async attach(): Promise<FaultCluster | null> {
    const marker = readMarker();
    if (!marker) return null;
    const young = Date.now() - Date.parse(marker.startedAt) < MAX_AGE_MS;
    const filesThere = [marker.certs.ca, marker.certs.server.cert, marker.certs.client.cert].every((file) => existsSync(file));
    if (!young || !filesThere) return null;
    const cluster = RabbitCluster.define(clusterOptions(marker.certs));
    if (!cluster.nodes.every((node) => node.hasOwnConfig())) return null;
    cluster.attach();
    try {
      await cluster.heal();
    } catch (error) {
      process.stderr.write(`fault cluster: could not heal the running cluster (${(error as Error).message}); starting a fresh one\n`);
      return null;
    }
    return new FaultCluster(cluster, marker.certs, marker, false);
  }

  private static async startFresh(owner: Owner): Promise<FaultCluster> {
    await FaultCluster.down();
    const made = await makeTestCertificates();
    const certs: ClusterCertificates = { dir: made.dir, ca: made.ca, server: made.server, client: made.client };
    let cluster: RabbitCluster;
    try {
      cluster = await RabbitCluster.start(clusterOptions(certs));
    } catch (error) {
      made.remove();
      throw error;
    }
    const marker: Marker = { nodes: [], certs, startedAt: new Date().toISOString(), owner };
    const fault = new FaultCluster(cluster, certs, marker, true);
    fault.writeMarker();
    return fault;
  }

  /**
   * Puts the cluster back as the next file expects it: whole and healthy (a cluster that cannot
   * be healed is replaced by a fresh one, with new certificates), no spec queue left.
   */
  async restore(): Promise<void> {
    try {
      await this.#cluster.heal();
    } catch (error) {
      process.stderr.write(`fault cluster: could not heal (${(error as Error).message}); starting a fresh one\n`);
      const fresh = await FaultCluster.startFresh(this.#marker.owner);
      this.#cluster = fresh.#cluster;
      this.#certs = fresh.#certs;
      this.#marker = fresh.#marker;
      return;
    }
    await this.deleteSpecQueues();
    this.writeMarker();
  }

  /**
   * For the file's `after`, once its clients are closed: restores the cluster and leaves it up
   * for the next file (CELERIAC_SPEC_KEEP_CLUSTER=1, or a cluster this object did not start),
   * or stops it (a file run alone).
   */
  async release(): Promise<void> {
    if (this.#started && process.env[KEEP_CLUSTER_ENV] !== '1' && this.#marker.owner !== 'user') {
      await FaultCluster.down();
      return;
    }
    await this.restore();
  }

  /** Deletes every `spec.*` queue on the cluster (through node 1): the files leave none to the next. */
  private async deleteSpecQueues(): Promise<void> {
    const node = this.#cluster.node(1);
    const out = await node.ctl('list_queues', '--quiet', '--no-table-headers', 'name');
    const names = out
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.startsWith('spec.'));
    if (names.length === 0) return;
    const connection = await amqp.connect(node.url);
    try {
      const channel = await connection.createChannel();
      for (const name of names) await channel.deleteQueue(name);
    } finally {
      await connection.close().catch(() => undefined);
    }
  }

  /** What `npm run cluster:up` prints: the nodes, both broker lists, the TLS files. */
  summary(): string[] {
    const cluster = this.#cluster;
    const certs = this.#certs;
    return [
      `RabbitMQ cluster up: ${cluster.nodes.map((node) => `${node.node} on ${node.port} (amqps ${node.tlsPort})`).join(', ')}`,
      `broker list: ${cluster.brokerList}`,
      `TLS broker list: ${cluster.urls('amqps').join(';')}`,
      `TLS client files (a client certificate is required): CA ${certs.ca}, certificate ${certs.client.cert}, key ${certs.client.key}`,
    ];
  }

  private writeMarker(): void {
    this.#marker.nodes = this.#cluster.nodes.map((node) => ({ name: node.name, port: node.port, tlsPort: node.tlsPort, pid: node.pid }));
    mkdirSync(dirname(MARKER), { recursive: true });
    // Written aside and renamed into place, so a reader never sees half a marker.
    writeFileSync(`${MARKER}.tmp`, JSON.stringify(this.#marker, null, 2) + '\n');
    renameSync(`${MARKER}.tmp`, MARKER);
  }
}

function readMarker(): Marker | null {
  try {
    return JSON.parse(readFileSync(MARKER, 'utf8')) as Marker;
  } catch {
    return null;
  }
}
