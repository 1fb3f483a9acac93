import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { Logger } from 'winston';
import { BrokerAccessRefusedError, BrokerConnectionError, BrokerTlsError, ClosedError } from '../../errors/errors.js';
import { redactUrl, schemeOf } from '../../util/url.js';
import { preview } from '../../util/preview.js';
import { withoutTlsParameters, type TlsSocketOptions } from '../../util/tls-settings.js';
import { diagnoseTlsFailure, endpointOf, type ProbeTarget } from '../../util/tls-probe.js';
import { classifyTlsError } from '../../util/tls-failure.js';
import type { TransportOptions } from '../transport.js';

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

interface Waiter {
  resolve(connection: ChannelModel): void;
  reject(error: Error): void;
  /** Failed attempts this caller still tolerates; below zero it gets BrokerConnectionError. */
  retriesLeft: number;
}

/**
 * One AMQP connection for one role, opened lazily on the first `acquire()` and kept open.
 *
 * Invariants:
 * - at most one connect loop runs (`looping`); every `acquire()` while it runs joins it;
 * - `current` is either null or a connection whose 'close' event has not fired, on which the
 *   connected hook has completed;
 * - an operation waits for at most `connectMaxRetries` retries (null: forever) and then rejects
 *   with BrokerConnectionError, but once a connection has been lost the loop keeps trying until
 *   it succeeds or the transport closes, so consumers are always resumed;
 * - a refusal (bad credentials, a virtual host that does not exist or is not the user's, a TLS
 *   handshake that cannot succeed: BrokerTlsError) is not a network fault: every waiting
 *   operation rejects at once with BrokerAccessRefusedError and,
 *   before the first connection, the loop stops. After a loss it keeps trying with backoff (the
 *   credentials may be restored on the broker), logging each refusal as an error;
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
  private readonly redacted: string;
  private readonly connectUrl: string;
  /** tls.connect options of an amqps:// URL; null for amqp://. */
  private readonly tls: TlsSocketOptions | null;
  /** What a TLS probe needs, to tell a TLS refusal hidden behind a reset from a network fault. */
  private readonly probeTarget: ProbeTarget | null;

  constructor(
    url: string,
    private readonly role: ConnectionRole,
    private readonly options: TransportOptions,
    private readonly onConnected: ConnectedHook | null = null,
  ) {
    // Logs and errors name the URL without its password, nor its TLS parameters (file paths).
    this.redacted = redactUrl(withoutTlsParameters(url));
    this.connectUrl = withConnectParameters(withoutTlsParameters(url), options);
    const secure = schemeOf(url) === 'amqps';
    this.tls = secure ? (options.tls?.socketOptions ?? { rejectUnauthorized: true }) : null;
    const endpoint = endpointOf(url, secure ? 5671 : 5672);
    this.probeTarget = endpoint && { endpoint, tls: this.tls, tlsScheme: 'amqps' };
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
    if (this.closed) return Promise.reject(new ClosedError(`broker ${this.redacted}: transport is closed`));
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
      waiter.reject(new ClosedError(`broker ${this.redacted}: transport is closed`));
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
    let failures = 0;
    while (!this.closed && (this.recovering || this.waiters.length > 0)) {
      let connection: ChannelModel;
      try {
        connection = await amqp.connect(this.connectUrl, {
          timeout: CONNECT_TIMEOUT_MS,
          // Nagle off: a small publish written while an ack is still unacknowledged by TCP would
          // otherwise wait for the broker's delayed ACK (~40 ms) - per message, and per delay tier.
          noDelay: true,
          clientProperties: { connection_name: `celeriac ${this.role}` },
          ...this.tls,
        });
      } catch (error) {
        failures += 1;
        const refusal = await this.refusalOf(error);
        if (refusal !== null) {
          this.refuseWaiters(refusal);
          if (this.closed || !this.recovering) return;
          const delay = this.backoff(failures);
          this.logger.error(`${refusal.message}; retry ${failures} in ${(delay / 1000).toFixed(1)}s`);
          await this.sleep(delay);
          continue;
        }
        const reason = describeError(error);
        this.failWaiters(error, reason, failures);
        if (this.closed || (!this.recovering && this.waiters.length === 0)) return;
        const delay = this.backoff(failures);
        this.logger.warn(`broker ${this.redacted} unreachable (${reason}); retry ${failures} in ${(delay / 1000).toFixed(1)}s`);
        await this.sleep(delay);
        continue;
      }
      // From here on the connection has an 'error' listener (amqplib throws an unheard 'error'),
      // also when it is discarded at once below.
      this.watch(connection);
      if (this.closed) {
        await closeQuietly(connection);
        return;
      }
      const reconnected = this.everConnected;
      if (this.onConnected) {
        const restoring = this.onConnected(connection, reconnected).catch((error: unknown) => {
          this.logger.error(`broker ${this.redacted}: restoring state after connect failed: ${describeError(error)}`);
        });
        // A connection lost while restoring is given up on, even if an amqplib call never settles.
        await Promise.race([restoring, closed(connection)]);
      }
      if (this.closed) {
        await closeQuietly(connection);
        return;
      }
      if (!this.live.has(connection)) {
        failures += 1;
        await this.sleep(this.backoff(failures));
        continue;
      }
      this.everConnected = true;
      this.recovering = false;
      this.current = connection;
      if (reconnected || failures > 0) this.logger.info(`broker ${this.redacted} connected (${this.role})`);
      for (const waiter of this.waiters.splice(0)) waiter.resolve(connection);
      if (reconnected) this.options.onReconnect?.(this.role);
      return;
    }
  }

  /** Counts one failed attempt against every waiting operation; those out of retries reject. */
  private failWaiters(error: unknown, reason: string, failures: number): void {
    this.waiters = this.waiters.filter((waiter) => {
      waiter.retriesLeft -= 1;
      if (waiter.retriesLeft >= 0) return true;
      waiter.reject(
        new BrokerConnectionError(this.redacted, `unreachable (${reason}) after ${failures} connection attempts`, {
          cause: error,
        }),
      );
      return false;
    });
  }

  /** A refused connection is not retried for anyone waiting: they all reject now. */
  private refuseWaiters(refusal: BrokerAccessRefusedError): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(refusal);
  }

  /**
   * The refusal behind a failed connect, as the error every waiter gets; null for what may be a
   * network fault. A reset or timeout is probed for a TLS refusal hidden behind it (a TLS port
   * given to amqp://, a client certificate refused after the handshake) only until the first
   * connection: once the port has spoken AMQP as configured, a reset is the network's.
   */
  private async refusalOf(error: unknown): Promise<BrokerAccessRefusedError | null> {
    const access = accessRefusal(error, this.connectUrl);
    if (access !== null) return new BrokerAccessRefusedError(this.redacted, access, { cause: error });
    if (this.probeTarget === null) return null;
    const tls = this.everConnected ? (this.tls ? classifyTlsError(error) : null) : await diagnoseTlsFailure(error, this.probeTarget);
    if (tls === null) return null;
    return new BrokerTlsError(this.redacted, tls.kind, `TLS: ${tls.text}`, { cause: error });
  }

  private watch(connection: ChannelModel): void {
    this.live.add(connection);
    let lastError: unknown;
    // amqplib emits 'error' before 'close'; without a listener an 'error' would crash the process.
    connection.on('error', (error: unknown) => {
      lastError = error;
    });
    // A listener of ours that throws is reported here instead of unwinding through amqplib's
    // frame handling (which could close the connection under every channel on it).
    connection.on('handler-error', (error: unknown, event: string) => {
      this.logger.error(`broker ${this.redacted}: the ${this.role} connection's '${event}' listener threw: ${describeError(error)}`);
    });
    connection.on('blocked', (reason: string) => {
      this.logger.warn(`broker ${this.redacted} blocked the ${this.role} connection (${reason})`);
    });
    connection.on('unblocked', () => {
      this.logger.info(`broker ${this.redacted} unblocked the ${this.role} connection`);
    });
    connection.on('close', (error?: unknown) => {
      this.live.delete(connection);
      const wasCurrent = this.current === connection;
      if (wasCurrent) this.current = null;
      if (this.closed || (!this.everConnected && !wasCurrent)) return;
      this.logger.warn(`broker ${this.redacted} ${this.role} connection lost (${describeError(error ?? lastError)}); reconnecting`);
      this.recovering = true;
      this.startLoop();
    });
  }

  private backoff(failures: number): number {
    return fullJitterBackoff(failures, this.options.connectInitialDelayMs, this.options.connectMaxDelayMs);
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
 * The URL amqplib connects to: the heartbeat (0 disables it) and the largest frame accepted from
 * the broker (`maxFrameSize`; amqplib's default when unset, 0 = no limit) from options, unless
 * the URL sets them itself.
 */
function withConnectParameters(url: string, options: TransportOptions): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(options.heartbeatSeconds));
    if (options.maxFrameSize != null && !parsed.searchParams.has('maxFrameSize')) {
      parsed.searchParams.set('maxFrameSize', String(options.maxFrameSize));
    }
    return parsed.toString();
  } catch {
    return url;
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
