import net from 'node:net';
import tls from 'node:tls';
import { classifyTlsError, mayHideTlsFailure, plainPortFailure, tlsPortFailure, type TlsFailure } from './tls-failure.js';
import type { TlsSocketOptions } from './tls-settings.js';

/** Where a client connects: host (a name or an IP address) and port. */
export interface Endpoint {
  host: string;
  port: number;
}

export interface ProbeTarget {
  endpoint: Endpoint;
  /** The client's TLS options; null for a plain-text client. */
  tls: TlsSocketOptions | null;
  /** The TLS scheme to name when a plain-text client meets a TLS port ('amqps', 'rediss'). */
  tlsScheme: string;
  /**
   * Bytes that make a plain-text server of this protocol answer (Redis: a PING), for servers
   * that stay silent before a client's first command: a TLS handshake then gets no answer at all.
   */
  plainHello?: Buffer;
}

/** Bound on each probe connection, from TCP connect to verdict. */
const PROBE_TIMEOUT_MS = 3_000;
/** How long a completed handshake is watched for the server's refusal of the client certificate (TLS 1.3 sends it after). */
const ALERT_WAIT_MS = 500;

/**
 * The TLS failure behind a connection attempt's `error`, or null when there is none to name (a
 * network fault: retrying may help).
 *
 * TLS errors with a code of their own are classified as they are. A reset, broken pipe, timeout
 * or abrupt close (mayHideTlsFailure) is looked at with one more connection of its own, since
 * what the client library reported may only be the aftermath:
 * - a plain-text client: does the port complete a TLS handshake? Then it is a TLS port;
 * - a TLS client: a handshake with the same options, watched a moment after it completes (a
 *   TLS 1.3 server refuses a client certificate only then, and a client that writes at once
 *   sees a reset instead of the server's alert); a server that never answers the handshake but
 *   answers `plainHello` speaks plain text.
 * Never throws; each probe connection is bounded by PROBE_TIMEOUT_MS.
 */
export async function diagnoseTlsFailure(error: unknown, target: ProbeTarget): Promise<TlsFailure | null> {
  if (target.tls !== null) {
    const direct = classifyTlsError(error);
    if (direct !== null) return direct;
  }
  if (!mayHideTlsFailure(error)) return null;
  return probeTls(target);
}

/**
 * The probe of diagnoseTlsFailure on its own, for a failure whose error was lost on the way (a
 * client library that reports only "Connection is closed" or a timeout): one connection to the
 * endpoint, as described there. Null when it finds no TLS failure. Never throws.
 */
export async function probeTls(target: ProbeTarget): Promise<TlsFailure | null> {
  try {
    if (target.tls === null) {
      // Any TLS answer will do (a server that then refuses the probe for want of a client certificate included).
      const verdict = await handshake(target.endpoint, { rejectUnauthorized: false });
      const spokeTls = verdict === 'completed' || (typeof verdict === 'object' && verdict.kind !== 'not-tls');
      return spokeTls ? tlsPortFailure(target.tlsScheme) : null;
    }
    const verdict = await handshake(target.endpoint, target.tls);
    if (typeof verdict === 'object') return verdict;
    if (verdict === 'silent' && target.plainHello && (await answersPlainText(target.endpoint, target.plainHello)))
      return plainPortFailure();
    return null;
  } catch {
    return null;
  }
}

/**
 * One TLS handshake. 'completed': it completed and no alert followed within ALERT_WAIT_MS; a
 * TlsFailure: it failed that way; 'silent': TCP connected but nothing came back; 'unreachable':
 * no TCP connection, or a failure that is not TLS's.
 */
function handshake(endpoint: Endpoint, options: TlsSocketOptions): Promise<'completed' | 'silent' | 'unreachable' | TlsFailure> {
  return new Promise((resolve) => {
    const raw = net.connect(endpoint.port, endpoint.host);
    let secure: tls.TLSSocket | null = null;
    let heard = false;
    const finish = (verdict: 'completed' | 'silent' | 'unreachable' | TlsFailure): void => {
      clearTimeout(timer);
      secure?.destroy();
      raw.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => finish(secure === null ? 'unreachable' : heard ? 'completed' : 'silent'), PROBE_TIMEOUT_MS);
    const unreachable = (): void => finish('unreachable');
    raw.once('error', unreachable);
    raw.once('connect', () => {
      // From here the TLS socket reports (and classifies) the connection's errors.
      raw.off('error', unreachable);
      raw.on('error', () => undefined);
      secure = tls.connect({ socket: raw, host: endpoint.host, ...options });
      secure.once('secureConnect', () => {
        heard = true;
        setTimeout(() => finish('completed'), ALERT_WAIT_MS);
      });
      secure.on('data', () => undefined);
      secure.once('error', (error: unknown) => finish(classifyTlsError(error) ?? (heard ? 'completed' : 'unreachable')));
    });
  });
}

/** Whether the server answers `hello` sent in plain text within PROBE_TIMEOUT_MS. */
function answersPlainText(endpoint: Endpoint, hello: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(endpoint.port, endpoint.host);
    const finish = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write(hello));
    socket.once('data', (data: Buffer) => finish(data.length > 0 && data[0] !== 0x15 && data[0] !== 0x16));
  });
}

/** The host and port of a URL (default port when it has none). */
export function endpointOf(url: string, defaultPort: number): Endpoint | null {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    return { host: host || 'localhost', port: parsed.port ? Number(parsed.port) : defaultPort };
  } catch {
    return null;
  }
}
