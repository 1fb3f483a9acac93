import { RabbitNode, type RabbitNodeOptions, type RabbitTlsListener } from './rabbit-node.js';

/**
 * A RabbitMQ cluster of `size` nodes on 127.0.0.1, beside the shared node: `${prefix}1..N` on
 * AMQP ports basePort+1..N (distribution ports +20000). Used by spec/cluster (the fault specs
 * share one, spec/support/fault-cluster.ts), by the cluster benchmarks and by `npm run cluster:up`
 * for a user who wants the same cluster to try things on.
 *
 * The nodes form the cluster as they boot, by RabbitMQ's classic-config peer discovery: node 1
 * lists no peer, so it starts a cluster of its own at once; nodes 2..N list node 1 alone, and
 * boot side by side once node 1 is up, each joining it (a blank node that finds a listed peer
 * joins that peer's cluster; listing only node 1 means no joining node picks another that has
 * not joined yet). No rabbitmqctl join calls, each of which starts an Erlang VM (seconds each on
 * a busy machine). A node restarted on its data rejoins by itself (discovery is for blank nodes).
 *
 * With `tls`, every node also listens for amqps:// on tls.basePort + i, with the same CA,
 * certificate and key (the certificate names 127.0.0.1, which every node is reached on).
 */
export interface RabbitClusterOptions {
  size?: number;
  /** Node i (1-based) listens on basePort + i. Default 5680: 5681, 5682, 5683. */
  basePort?: number;
  /** Erlang short-name prefix. Default 'celeriac-c'. */
  prefix?: string;
  baseDir?: string;
  /** A TLS listener on every node: node i on tls.basePort + i. */
  tls?: Omit<RabbitTlsListener, 'port'> & { basePort: number };
  /** Options for each node beyond name and ports, by 1-based index. */
  nodeOptions?: (index: number) => Partial<RabbitNodeOptions>;
}

/** What a client speaks to the cluster: plain AMQP or AMQP over TLS (each node's listener of that kind). */
export type AmqpScheme = 'amqp' | 'amqps';

export class RabbitCluster {
  private constructor(readonly nodes: RabbitNode[]) {}

  /**
   * Starts every node from empty data, forms the cluster and waits until each node reports all
   * of them running. Stops whatever it started if any of it fails.
   */
  static async start(options: RabbitClusterOptions = {}): Promise<RabbitCluster> {
    const cluster = RabbitCluster.define(options);
    try {
      await cluster.nodes[0]?.start();
      // Side by side, each joining node 1; every boot is awaited before a failure is thrown, so
      // `stop()` below finds every node that came up.
      const joined = await Promise.allSettled(cluster.nodes.slice(1).map((node) => node.start()));
      for (const result of joined) if (result.status === 'rejected') throw result.reason;
      await cluster.awaitRunning(cluster.nodes);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /**
   * The cluster `options` describe, started by nobody yet: for `attach()` to nodes another
   * process started with the same options, or `stop()` of them.
   */
  static define(options: RabbitClusterOptions = {}): RabbitCluster {
    const size = options.size ?? 3;
    const basePort = options.basePort ?? 5680;
    const prefix = options.prefix ?? 'celeriac-c';
    const names = Array.from({ length: size }, (_, i) => `${prefix}${i + 1}`);
    const nodes = names.map((name, i) => {
      const extra = options.nodeOptions?.(i + 1) ?? {};
      // Node 1 lists no peer (a cluster of its own at once, where listing absent peers would
      // retry them for seconds); every other node lists node 1, the one it joins.
      const peers = i === 0 ? [] : [names[0]];
      const discovery = [
        'cluster_formation.peer_discovery_backend = classic_config',
        ...peers.map((peer, j) => `cluster_formation.classic_config.nodes.${j + 1} = ${peer}@localhost`),
      ];
      return new RabbitNode({
        name,
        port: basePort + i + 1,
        baseDir: options.baseDir,
        ...(options.tls ? { tls: tlsListener(options.tls, i + 1) } : {}),
        ...extra,
        extraConfig: [...discovery, ...(extra.extraConfig ?? [])],
      });
    });
    return new RabbitCluster(nodes);
  }

  /**
   * Takes over nodes another process started (with the same options): true if every node runs
   * (a frozen one is resumed). Whether they form one healthy cluster is `awaitHealed()`'s to say.
   */
  attach(): boolean {
    return this.nodes.map((node) => node.attach()).every(Boolean);
  }

  /** The nodes' AMQP URLs (amqps:// ones on their TLS listeners for 'amqps'), in order. */
  urls(scheme: AmqpScheme = 'amqp'): string[] {
    return this.nodes.map((node) => node.urlFor(scheme));
  }

  /** Celery's broker list spelling: the URLs joined with ';'. */
  get brokerList(): string {
    return this.urls().join(';');
  }

  /**
   * The broker list starting at node `first` (1-based) and going round: with round-robin
   * fail-over a client connects to node `first` and moves to the following ones in turn.
   */
  brokerListFrom(first: number, scheme: AmqpScheme = 'amqp'): string {
    const urls = this.urls(scheme);
    return [...urls.slice(first - 1), ...urls.slice(0, first - 1)].join(';');
  }

  node(index: number): RabbitNode {
    const node = this.nodes[index - 1];
    if (!node) throw new Error(`the cluster has no node ${index}`);
    return node;
  }

  /** The node whose AMQP port (plain or TLS) is `port` (a client's connection tells which node it is on). */
  nodeOnPort(port: number): RabbitNode {
    const node = this.nodes.find((candidate) => candidate.port === port || candidate.tlsPort === port);
    if (!node) throw new Error(`no cluster node listens on ${port}`);
    return node;
  }

  /** The node leading a quorum queue, asked of a running node. */
  async leaderOf(queue: string, askVia: RabbitNode = this.running()[0]): Promise<RabbitNode> {
    const out = await askVia.ctl('list_queues', '--quiet', '--no-table-headers', 'name', 'leader');
    for (const line of out.split('\n')) {
      const [name, leader] = line.trim().split(/\s+/);
      if (name !== queue) continue;
      const node = this.nodes.find((candidate) => candidate.node === leader);
      if (node) return node;
      throw new Error(`queue ${queue}: leader ${leader} is not a node of this cluster`);
    }
    throw new Error(`queue ${queue} not found on ${askVia.node}`);
  }

  /**
   * Waits until `expected` are running members of one cluster, as the first of them sees it
   * (membership is the cluster's: a node that lists the others as running is listed by them).
   */
  async awaitRunning(expected: RabbitNode[] = this.running()): Promise<void> {
    const want = expected.map((node) => node.node).sort();
    const [asked] = expected;
    if (!asked) return;
    await this.awaitStatus(asked, (status) => {
      const running = [...(status.running_nodes ?? [])].sort();
      return want.every((name) => running.includes(name)) ? null : `running ${running.join(', ')}, expected ${want.join(', ')}`;
    });
  }

  /**
   * Makes the cluster whole again after any fault, whether or not the test that made it got to
   * undo it: a frozen node resumed, a dead one restarted on its data (it rejoins), a stopped app
   * started and suspended listeners resumed; then `awaitHealed()`. Cheap on a whole cluster: a
   * TCP probe of each listener and one `cluster_status`.
   */
  async heal(): Promise<void> {
    for (const node of this.nodes) if (node.isRunning) node.resume();
    // A node still booting (a test's restart) is waited for; attach() finds a node restarted by
    // another object or process (and resumes it if frozen); the others are restarted.
    const dead = this.nodes.filter((node) => !node.isRunning && (node.isBooting || !node.attach()));
    await Promise.all(dead.map((node) => node.restart()));
    for (const node of this.nodes) {
      if (await node.listening()) continue;
      // A node whose app was stopped (stop_app) or whose listeners were suspended: each command
      // is a no-op where it is not needed, so both are given.
      await node.ctl('start_app');
      await node.resumeListeners();
    }
    await this.awaitHealed();
  }

  /**
   * Waits until the cluster is healthy as RabbitMQ reports it: every node a running member, no
   * network partition, no resource alarm, every node's listeners open.
   */
  async awaitHealed(): Promise<void> {
    const want = this.nodes.map((node) => node.node).sort();
    await this.awaitStatus(this.nodes[0], (status) => {
      const running = [...(status.running_nodes ?? [])].sort();
      if (!want.every((name) => running.includes(name))) return `running ${running.join(', ')}, expected ${want.join(', ')}`;
      const partitions = Object.entries(status.partitions ?? {}).filter(([, peers]) => peers.length > 0);
      if (partitions.length > 0) return `partitions ${JSON.stringify(Object.fromEntries(partitions))}`;
      const alarms = status.alarms ?? [];
      return alarms.length > 0 ? `alarms ${JSON.stringify(alarms)}` : null;
    });
    for (const node of this.nodes) if (!(await node.listening())) throw new Error(`${node.node}: listeners closed on a running member`);
  }

  /**
   * Polls `rabbitmqctl cluster_status` on `asked` until `problem` finds none (null); fails with
   * the last one after 120 s. A status that cannot be had (a node still restarting) is a problem
   * like any other.
   */
  private async awaitStatus(asked: RabbitNode, problem: (status: ClusterStatus) => string | null): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      let found: string | null;
      try {
        found = problem(JSON.parse(await asked.ctl('cluster_status', '--formatter', 'json')) as ClusterStatus);
      } catch (error) {
        found = `no cluster status (${(error as Error).message.split('\n')[0]})`;
      }
      if (found === null) return;
      if (Date.now() > deadline) throw new Error(`${asked.node} reports ${found}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Nodes whose VM runs (not killed or stopped through this object). */
  running(): RabbitNode[] {
    return this.nodes.filter((node) => node.isRunning);
  }

  /**
   * Stops every node of the cluster that runs, side by side: those this object started, and
   * any its pid file names (a boot that failed half-way, a node started by another process).
   * Never throws: it runs in `after`.
   */
  async stop(): Promise<void> {
    await Promise.allSettled(
      this.nodes.map(async (node) => {
        if (node.isRunning) node.resume();
        else node.attach();
        await node.stop();
      }),
    );
  }
}

/** What the cluster-status checks read of `rabbitmqctl cluster_status --formatter json`. */
interface ClusterStatus {
  running_nodes?: string[];
  /** Node → the nodes it is partitioned from (empty or absent: none). */
  partitions?: Record<string, string[]>;
  alarms?: unknown[];
}

/** Node `index`'s TLS listener: the cluster's files, on its own port. */
function tlsListener({ basePort, ...files }: NonNullable<RabbitClusterOptions['tls']>, index: number): RabbitTlsListener {
  return { ...files, port: basePort + index };
}
