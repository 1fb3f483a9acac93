import net from 'node:net';

/**
 * A TCP proxy in front of a broker, for fault injection that affects only the connections a
 * spec opens through it (unlike `rabbitmqctl close_all_connections`).
 */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** `base` with its host and port replaced by the proxy's. */
  urlFor(base: string): string;
  /** Local ports of the proxy's open connections to the broker (RabbitMQ's `peer_port`). */
  upstreamPorts(): number[];
  /** Resets every open connection (client side sees ECONNRESET); new ones are still accepted. */
  cut(): void;
  /** Stops forwarding in both directions on every open connection, as a hung network would. */
  stall(): void;
  /** Undoes `stall()`. */
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost = '127.0.0.1', targetPort = 5672): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  let stalled = false;

  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (!stalled) connect(pair);
  });
  const connect = ([client, upstream]: [net.Socket, net.Socket]): void => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const disconnect = ([client, upstream]: [net.Socket, net.Socket]): void => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  const proxy: TcpProxy = {
    port,
    get accepted() {
      return accepted;
    },
    urlFor(base: string): string {
      const url = new URL(base);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    upstreamPorts(): number[] {
      return [...pairs].map(([, upstream]) => upstream.localPort).filter((p): p is number => p !== undefined);
    },
    cut(): void {
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    stall(): void {
      stalled = true;
      for (const pair of pairs) disconnect(pair);
    },
    resume(): void {
      stalled = false;
      for (const pair of pairs) connect(pair);
    },
    async close(): Promise<void> {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
