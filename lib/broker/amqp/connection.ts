import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { Logger } from 'winston';
import { BrokerAccessRefusedError, BrokerConnectionError, BrokerTlsError, ClosedError } from '../../errors/errors.js';
import { preview } from '../../util/preview.js';
import { diagnoseTlsFailure } from '../../util/tls-probe.js';
import { classifyTlsError } from '../../util/tls-failure.js';
import type { TransportOptions } from '../transport.js';
import { FailoverRotation } from '../failover-rotation.js';
import { brokerNode, type BrokerNode } from './broker-node.js';

/** Publishing and consuming use separate connections, so a memory alarm blocks only publishers. */
export type ConnectionRole = 'publish' | 'consume';

/**
 * Runs on every fresh connection before any caller of `acquire()` gets it; `reconnected` is
 * true when it replaces a lost one. This is where topology and consumers are restored.
 */
export type ConnectedHook = (connection: ChannelModel, reconnected: boolean) => Promise<void>;

/** Exponential backoff with full jitter before the `attempt`-th retry (1, 2, ...): uniform in [0, min(max, initial * 2^(attempt-1))]. */
export function fullJitterBackoff(attempt: number, initialMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
}

/** A TCP connect that hangs (black-holed host) counts as a failed attempt after this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/** A refusal of one node (access or TLS): the error waiters get, and the reason for the log. */
interface Refusal {
  readonly error: BrokerAccessRefusedError;
  readonly text: string;
}

interface Waiter {
  resolve(connection: ChannelModel): void;
  reject(error: Error): void;
  /** Failed attempts this caller still tolerates; below zero it gets BrokerConnectionError. */
  retriesLeft: number;
}

/**
 * One AMQP connection for one role, opened lazily on the first `acquire()` and kept open, to one
 * node of the broker list at a time (a list of one URL is the common case).
 *
 * Invariants:
 * - at most one connect loop runs (`looping`); every `acquire()` while it runs joins it;
 * - `current` is either null or a connection whose 'close' event has not fired, on which the
 *   connected hook has completed; it is a connection to `rotation.current`;
 * - the loop tries the nodes in the rotation's order (failover-rotation.ts) and moves to the
 *   next one at once after a failed attempt; it backs off (exponential, full jitter, the
 *   exponent counting passes) only once every node of the list failed since the last backoff.
 *   With one URL every failure completes a pass, so each one backs off. After a connection is
 *   lost, the first attempt goes to the next node: the lost one is likely down or frozen;
 * - an operation waits for at most `connectMaxRetries` failed attempts, on any node (null:
 *   forever) and then rejects with BrokerConnectionError, but once a connection has been lost
 *   the loop keeps trying until it succeeds or the transport closes, so consumers are always
 *   resumed;
 * - a refusal (bad credentials, a virtual host that does not exist or is not the user's, a TLS
 *   handshake that cannot succeed: BrokerTlsError) is not a network fault. Users, passwords and
 *   virtual hosts are the same on every node of a RabbitMQ cluster, so a refusal is the
 *   cluster's answer, but a list may name nodes with other credentials or TLS settings, or a
 *   node outside the cluster: the loop goes on through the list, and when a pass ends with no
 *   connection and at least one refusal, every waiting operation rejects with that
 *   BrokerAccessRefusedError (or BrokerTlsError) and, before the first connection, the loop
 *   stops. After a loss it keeps trying with backoff (the credentials may be restored on the
 *   broker), logging each refusal as an error;
 * - every node has its own TLS settings and probe target, from its own URL (amqps:// or not);
 * - every log line names the node it is about (password and TLS parameters hidden); errors that
 *   concern the whole list name the list;
 * - after `close()` no connection is opened again and `acquire()` rejects with ClosedError.
 */
export class ConnectionManager {
  private current: ChannelModel | null = null;
  private readonly live = new WeakSet<ChannelModel>();
  private waiters: Waiter[] = [];
  private looping = false;
  private recovering = false;
  private everConnected = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private readonly nodes: readonly BrokerNode[];
  private readonly rotation: FailoverRotation<BrokerNode>;
  /** The whole list, passwords hidden (one URL: that URL). */
  private readonly listRedacted: string;

  /** `urls`: the broker list (at least one URL), tried in the order of `options.failoverStrategy`. */
  constructor(
    urls: readonly string[],
    private readonly role: ConnectionRole,
    private readonly options: TransportOptions,
    private readonly onConnected: ConnectedHook | null = null,
  ) {
    this.nodes = urls.map((url) => brokerNode(url, options));
    this.rotation = new FailoverRotation(this.nodes, options.failoverStrategy ?? 'round-robin');
    this.listRedacted = this.nodes.map((node) => node.redacted).join(';');
  }

  /** The node connected to, or being tried while there is no connection; password hidden. For log lines. */
  get url(): string {
    return this.rotation.current.redacted;
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  /** The open connection, if there is one right now (no I/O). */
  get connection(): ChannelModel | null {
    return this.current;
  }

  /** Resolves with the open connection, connecting first if needed. */
  acquire(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(new ClosedError(`broker ${this.listRedacted}: transport is closed`));
    if (this.current) return Promise.resolve(this.current);
    return new Promise<ChannelModel>((resolve, reject) => {
      this.waiters.push({ resolve, reject, retriesLeft: this.options.connectMaxRetries ?? Infinity });
      this.startLoop();
    });
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new ClosedError(`broker ${this.listRedacted}: transport is closed`));
    }
    const connection = this.current;
    this.current = null;
    if (connection) await closeQuietly(connection);
  }

  private startLoop(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop().finally(() => {
      this.looping = false;
    });
  }

  private async loop(): Promise<void> {
    /** Failed attempts in this loop, on any node. */
    let failures = 0;
    /** Passes through the whole list that failed; each one backs off longer. */
    let passes = 0;
    /** Nodes that failed since the last backoff: when it holds every node, a pass is over. */
    const failed = new Set<BrokerNode>();
    let refusal: Refusal | null = null;
    while (!this.closed && (this.recovering || this.waiters.length > 0)) {
      const node = this.rotation.current;
      let connection: ChannelModel;
      try {
        connection = await amqp.connect(node.connectUrl, {
          timeout: CONNECT_TIMEOUT_MS,
          // Nagle off: a small publish written while an ack is still unacknowledged by TCP would
          // otherwise wait for the broker's delayed ACK (~40 ms) - per message, and per delay tier.
          noDelay: true,
          clientProperties: { connection_name: `celeriac ${this.role}` },
          ...node.tls,
        });
      } catch (error) {
        failures += 1;
        failed.add(node);
        const refused = await this.refusalOf(error, node);
        if (refused !== null) refusal = refused;
        const reason = refused?.text ?? `unreachable (${describeError(error)})`;
        this.failWaiters(error, node, reason, refused, failures);
        if (failed.size < this.nodes.length) {
          // Another node may answer: no backoff before the rest of the pass.
          const next = this.rotation.advance();
          if (this.closed || (!this.recovering && this.waiters.length === 0)) return;
          this.log(refused !== null, `broker ${node.redacted} ${reason}; trying ${next.redacted}`);
          continue;
        }
        // Every node failed since the last backoff: the pass is over.
        if (refusal !== null) {
          this.refuseWaiters(refusal);
          if (this.closed || !this.recovering) return;
        }
        if (this.closed || (!this.recovering && this.waiters.length === 0)) return;
        passes += 1;
        failed.clear();
        refusal = null;
        this.rotation.advance();
        const delay = this.backoff(passes);
        this.log(refused !== null, `broker ${node.redacted} ${reason}; retry ${failures} in ${(delay / 1000).toFixed(1)}s`);
        await this.sleep(delay);
        continue;
      }
      // From here on the connection has an 'error' listener (amqplib throws an unheard 'error'),
      // also when it is discarded at once below.
      this.watch(connection, node);
      if (this.closed) {
        await closeQuietly(connection);
        return;
      }
      const reconnected = this.everConnected;
      if (this.onConnected) {
        const restoring = this.onConnected(connection, reconnected).catch((error: unknown) => {
          this.logger.error(`broker ${node.redacted}: restoring state after connect failed: ${describeError(error)}`);
        });
        // A connection lost while restoring is given up on, even if an amqplib call never settles.
        await Promise.race([restoring, closed(connection)]);
      }
      if (this.closed) {
        await closeQuietly(connection);
        return;
      }
      if (!this.live.has(connection)) {
        // Lost while restoring: a failed attempt on this node (its 'close' was logged).
        failures += 1;
        failed.add(node);
        this.rotation.advance();
        if (failed.size < this.nodes.length) continue;
        passes += 1;
        failed.clear();
        await this.sleep(this.backoff(passes));
        continue;
      }
      this.everConnected = true;
      this.recovering = false;
      this.current = connection;
      if (reconnected || failures > 0 || this.nodes.length > 1) this.logger.info(`broker ${node.redacted} connected (${this.role})`);
      for (const waiter of this.waiters.splice(0)) waiter.resolve(connection);
      if (reconnected) this.options.onReconnect?.(this.role);
      return;
    }
  }

  /** A refusal is an error (someone must fix the credentials); a node out of reach a warning. */
  private log(refused: boolean, line: string): void {
    if (refused) this.logger.error(line);
    else this.logger.warn(line);
  }

  /**
   * Counts one failed attempt (on `node`, for `reason`) against every waiting operation; those
   * out of retries reject: with the refusal (BrokerAccessRefusedError, BrokerTlsError) when this attempt was refused, else
   * BrokerConnectionError (naming the node for one URL, the list and the last node for a list).
   */
  private failWaiters(error: unknown, node: BrokerNode, reason: string, refused: Refusal | null, failures: number): void {
    this.waiters = this.waiters.filter((waiter) => {
      waiter.retriesLeft -= 1;
      if (waiter.retriesLeft >= 0) return true;
      if (refused) waiter.reject(refused.error);
      else if (this.nodes.length === 1) {
        waiter.reject(new BrokerConnectionError(node.redacted, `${reason} after ${failures} connection attempts`, { cause: error }));
      } else {
        const last = `last: ${node.redacted} ${reason}`;
        waiter.reject(
          new BrokerConnectionError(this.listRedacted, `no node reachable after ${failures} connection attempts (${last})`, {
            cause: error,
          }),
        );
      }
      return false;
    });
  }

  /** A pass that ended with a refusal and no connection: nobody waiting is retried, they all reject now. */
  private refuseWaiters(refusal: Refusal): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(refusal.error);
  }

  /**
   * The refusal behind a failed connect to `node`, as the error every waiter gets and the text
   * for the log; null for what may be a network fault. A reset or timeout is probed for a TLS
   * refusal hidden behind it (a TLS port given to amqp://, a client certificate refused after the
   * handshake) only until the first connection: once the list has spoken AMQP as configured, a
   * reset is the network's.
   */
  private async refusalOf(error: unknown, node: BrokerNode): Promise<Refusal | null> {
    const access = accessRefusal(error, node.connectUrl);
    if (access !== null) return { text: access, error: new BrokerAccessRefusedError(node.redacted, access, { cause: error }) };
    if (node.probeTarget === null) return null;
    const tls = this.everConnected ? (node.tls ? classifyTlsError(error) : null) : await diagnoseTlsFailure(error, node.probeTarget);
    if (tls === null) return null;
    const text = `TLS: ${tls.text}`;
    return { text, error: new BrokerTlsError(node.redacted, tls.kind, text, { cause: error }) };
  }

  private watch(connection: ChannelModel, node: BrokerNode): void {
    this.live.add(connection);
    let lastError: unknown;
    // amqplib emits 'error' before 'close'; without a listener an 'error' would crash the process.
    connection.on('error', (error: unknown) => {
      lastError = error;
    });
    // A listener of ours that throws is reported here instead of unwinding through amqplib's
    // frame handling (which could close the connection under every channel on it).
    connection.on('handler-error', (error: unknown, event: string) => {
      this.logger.error(`broker ${node.redacted}: the ${this.role} connection's '${event}' listener threw: ${describeError(error)}`);
    });
    connection.on('blocked', (reason: string) => {
      this.logger.warn(`broker ${node.redacted} blocked the ${this.role} connection (${reason})`);
    });
    connection.on('unblocked', () => {
      this.logger.info(`broker ${node.redacted} unblocked the ${this.role} connection`);
    });
    connection.on('close', (error?: unknown) => {
      this.live.delete(connection);
      const wasCurrent = this.current === connection;
      if (wasCurrent) this.current = null;
      if (this.closed || (!this.everConnected && !wasCurrent)) return;
      this.logger.warn(`broker ${node.redacted} ${this.role} connection lost (${describeError(error ?? lastError)}); reconnecting`);
      // The next attempt goes to the next node (a connection lost in the connected hook is the loop's to count).
      if (wasCurrent) this.rotation.advance();
      this.recovering = true;
      this.startLoop();
    });
  }

  /** Exponential backoff with full jitter after the n-th failed pass (fullJitterBackoff). */
  private backoff(passes: number): number {
    return fullJitterBackoff(passes, this.options.connectInitialDelayMs, this.options.connectMaxDelayMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}

/**
 * Why the broker refused the connection, when it did so on purpose, else null. amqplib reports
 * the handshake's refusal only in its message: a 403 ACCESS_REFUSED at login, and a
 * connection.close in reply to connection.open, which RabbitMQ sends when the virtual host does
 * not exist or the user may not use it (530 NOT_ALLOWED).
 */
function accessRefusal(error: unknown, url: string): string | null {
  const message = error instanceof Error ? error.message : '';
  let user = 'guest';
  let vhost = '/';
  try {
    const parsed = new URL(url);
    if (parsed.username) user = decodeURIComponent(parsed.username);
    if (parsed.pathname.length > 1) vhost = decodeURIComponent(parsed.pathname.slice(1));
  } catch {
    // keep the defaults amqplib uses
  }
  if (/ACCESS[-_]REFUSED/.test(message)) {
    return `refused the login of user '${user}' (ACCESS_REFUSED: wrong user name or password, or a user that may not log in)`;
  }
  if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(message)) {
    return `refused to open virtual host '${vhost}' for user '${user}' (it does not exist, or the user has no permissions on it)`;
  }
  return null;
}

/** A short reason for logs: the errno code when there is one, else the message. Never contains the URL. */
export function describeError(error: unknown): string {
  if (error === undefined || error === null) return 'closed';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  return error instanceof Error ? error.message : preview(error, 200);
}

interface Closable {
  close(): Promise<void>;
  once(event: 'close', listener: () => void): unknown;
}

/** Resolves when the channel or connection emits 'close'. */
function closed(target: Closable): Promise<void> {
  return new Promise<void>((resolve) => target.once('close', () => resolve()));
}

/**
 * Closes a channel or connection and resolves once it is closed, by either side. (amqplib's
 * close() never settles when the connection drops before the broker's close-ok.)
 */
export function closeQuietly(target: Closable): Promise<void> {
  return Promise.race([closed(target), target.close().catch(() => undefined)]);
}
