import { RabbitNode, type RabbitNodeOptions, type RabbitTlsListener } from './rabbit-node.js';

/**
 * A RabbitMQ cluster of `size` nodes on 127.0.0.1, beside the shared node: `${prefix}1..N` on
 * AMQP ports basePort+1..N (distribution ports +20000). Used by spec/cluster (each file starts
 * one in `before` and stops it in `after`) and by `npm run cluster:up` for a user who wants the
 * same cluster to try things on.
 *
 * The nodes form the cluster as they boot, by RabbitMQ's classic-config peer discovery (every
 * node's config lists them all): booted one after the other, the first finds no peer and starts
 * the cluster, each next one joins it. No rabbitmqctl join calls, each of which starts an Erlang
 * VM (seconds each on a busy machine). A node restarted on its data rejoins by itself.
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

  /** Starts every node, joins them into one cluster and waits until each reports all of them running. */
  static async start(options: RabbitClusterOptions = {}): Promise<RabbitCluster> {
    const size = options.size ?? 3;
    const basePort = options.basePort ?? 5680;
    const prefix = options.prefix ?? 'celeriac-c';
    const names = Array.from({ length: size }, (_, i) => `${prefix}${i + 1}`);
    const discovery = [
      'cluster_formation.peer_discovery_backend = classic_config',
      ...names.map((name, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${name}@localhost`),
    ];
    const nodes = names.map((name, i) => {
      const extra = options.nodeOptions?.(i + 1) ?? {};
      return new RabbitNode({
        name,
        port: basePort + i + 1,
        baseDir: options.baseDir,
        ...(options.tls ? { tls: tlsListener(options.tls, i + 1) } : {}),
        ...extra,
        extraConfig: [...discovery, ...(extra.extraConfig ?? [])],
      });
    });
    const cluster = new RabbitCluster(nodes);
    try {
      // One at a time: the first must be up for the next to join it, and booting is CPU-bound
      // (on a small machine one node at a time boots as fast as all at once).
      for (const node of nodes) await node.start();
      await cluster.awaitRunning(nodes);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
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
    const deadline = Date.now() + 120_000;
    for (;;) {
      const status = JSON.parse(await asked.ctl('cluster_status', '--formatter', 'json')) as { running_nodes?: string[] };
      const running = [...(status.running_nodes ?? [])].sort();
      if (want.every((name) => running.includes(name))) return;
      if (Date.now() > deadline) throw new Error(`${asked.node} sees running ${running.join(', ')}, expected ${want.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Nodes whose VM runs (not killed or stopped through this object). */
  running(): RabbitNode[] {
    return this.nodes.filter((node) => node.isRunning);
  }

  /** Stops every node (resuming a paused one first). Never throws: it runs in `after`. */
  async stop(): Promise<void> {
    for (const node of [...this.nodes].reverse()) {
      try {
        if (node.isRunning) node.resume();
        await node.stop();
      } catch {
        // a node that never started, or is gone already
      }
    }
  }
}

/** Node `index`'s TLS listener: the cluster's files, on its own port. */
function tlsListener({ basePort, ...files }: NonNullable<RabbitClusterOptions['tls']>, index: number): RabbitTlsListener {
  return { ...files, port: basePort + index };
}
