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
  /**
   * Slicing on (or off with `false`): from now on every byte, both ways, on open and new
   * connections, is forwarded in fragments of `minBytes`..`maxBytes` (default 1–7), each written
   * on its own (Nagle off, so mostly one TCP segment each), with a tiny random delay between
   * fragments (a macrotask, a 1 ms timer once in `timerEvery` fragments). Order and content are
   * kept: the peer must reassemble frames from arbitrary splits.
   */
  slice(options?: SliceOptions | false): void;
  /** Bytes forwarded so far, both ways, and how many fragments slicing cut them into. */
  readonly forwarded: { bytes: number; fragments: number };
  close(): Promise<void>;
}

export interface SliceOptions {
  minBytes?: number;
  maxBytes?: number;
  /** One fragment in this many waits a 1 ms timer instead of a macrotask. Default 8. */
  timerEvery?: number;
}

/**
 * One direction of a connection. Invariant: bytes leave in the order they arrived; at most
 * HIGH_WATER bytes wait in `queue` (the source is paused above it and resumed once it drained);
 * while stalled nothing is written and the source is paused.
 */
class Lane {
  private queue: Buffer[] = [];
  private queued = 0;
  private pumping = false;
  constructor(
    private readonly source: net.Socket,
    private readonly target: net.Socket,
    private readonly state: ProxyState,
  ) {
    source.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued > HIGH_WATER) source.pause();
      void this.pump();
    });
  }

  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.state.stalled && !this.target.destroyed) {
        const slicing = this.state.slicing;
        let chunk = this.queue[0];
        if (slicing) {
          const { minBytes = 1, maxBytes = 7, timerEvery = 8 } = slicing;
          const size = Math.min(chunk.length, minBytes + Math.floor(Math.random() * (maxBytes - minBytes + 1)));
          const piece = chunk.subarray(0, size);
          chunk = chunk.subarray(size);
          if (chunk.length === 0) this.queue.shift();
          else this.queue[0] = chunk;
          this.queued -= size;
          this.state.forwarded.bytes += size;
          this.state.forwarded.fragments += 1;
          const flushed = this.target.write(piece);
          if (!flushed) await new Promise((resolve) => this.target.once('drain', resolve));
          await (Math.random() * timerEvery < 1
            ? new Promise((resolve) => setTimeout(resolve, 1))
            : new Promise((resolve) => setImmediate(resolve)));
        } else {
          this.queue.shift();
          this.queued -= chunk.length;
          this.state.forwarded.bytes += chunk.length;
          if (!this.target.write(chunk)) await new Promise((resolve) => this.target.once('drain', resolve));
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.state.stalled) this.source.pause();
    else if (this.queued <= HIGH_WATER && !this.source.destroyed) this.source.resume();
    // Data may have arrived while the last write awaited.
    if (this.queue.length > 0 && !this.state.stalled && !this.target.destroyed) void this.pump();
  }
}

const HIGH_WATER = 256 * 1024;

interface ProxyState {
  stalled: boolean;
  slicing: SliceOptions | null;
  forwarded: { bytes: number; fragments: number };
}

export async function startTcpProxy(targetHost = '127.0.0.1', targetPort = 5672): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const lanes = new Set<Lane>();
  let accepted = 0;
  const state: ProxyState = { stalled: false, slicing: null, forwarded: { bytes: 0, fragments: 0 } };

  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(targetPort, targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const up = new Lane(client, upstream, state);
    const down = new Lane(upstream, client, state);
    lanes.add(up).add(down);
    const drop = (): void => {
      pairs.delete(pair);
      lanes.delete(up);
      lanes.delete(down);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (state.stalled) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  const proxy: TcpProxy = {
    port,
    get accepted() {
      return accepted;
    },
    get forwarded() {
      return { ...state.forwarded };
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
      lanes.clear();
    },
    stall(): void {
      state.stalled = true;
      for (const [client, upstream] of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    resume(): void {
      state.stalled = false;
      for (const lane of lanes) void lane.pump();
    },
    slice(options: SliceOptions | false = {}): void {
      state.slicing = options === false ? null : options;
    },
    async close(): Promise<void> {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
