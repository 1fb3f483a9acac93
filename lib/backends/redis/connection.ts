import { Redis, type RedisOptions } from '../../util/ioredis.js';
import { schemeOf } from '../../util/url.js';
import type { BackendConnectionSettings } from '../result-backend-options.js';
import { parseSentinelUrl } from './sentinel-url.js';
import { withoutTlsParameters, type TlsConfig } from '../../util/tls-settings.js';
import type { Endpoint } from '../../util/tls-probe.js';
import { redisTlsOption } from './tls-options.js';

/**
 * Connection policy of every Redis connection a backend opens (results, subscriptions, and the
 * stores beside them: revocations, beat state, redelivery counts). ioredis reconnects forever in
 * the background; a command waits through at most MAX_RETRIES_PER_REQUEST reconnect attempts
 * (delays 100, 200, 400, 800, 1600 ms: about 3 s against a refused port, longer against a
 * black-holed one, each attempt bounded by CONNECT_TIMEOUT_MS) and then fails with BackendError
 * instead of queueing without bound. A command on a live connection that gets no reply in
 * COMMAND_TIMEOUT_MS fails the same way.
 */
const MAX_RETRIES_PER_REQUEST = 5;
const CONNECT_TIMEOUT_MS = 3_000;
const COMMAND_TIMEOUT_MS = 10_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

export const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  // Concurrent commands from many callers share one write and one round trip; see PipelineWhenBusy.
  enableAutoPipelining: true,
  maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
  connectTimeout: CONNECT_TIMEOUT_MS,
  commandTimeout: COMMAND_TIMEOUT_MS,
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
};

/** CONNECTION_OPTIONS with the `tls` option of a rediss:// URL's settings (none for redis://). */
export function connectionOptions(tls: TlsConfig | null): RedisOptions {
  const option = redisTlsOption(tls);
  return option === undefined ? CONNECTION_OPTIONS : { ...CONNECTION_OPTIONS, tls: option };
}

/**
 * What a `sentinel://` connection adds, with ioredis's Sentinel support doing the discovery: it
 * asks the sentinels in turn for the primary's address (SENTINEL get-master-addr-by-name) at
 * every connect and reconnect, and connects only to a node that reports role master (a node
 * still a replica is left and the sentinels asked again). Added here:
 * - `failoverDetector`: also subscribes to the sentinels' `+switch-master`, so a primary demoted
 *   in a fail-over it survives (`SENTINEL FAILOVER`, a partition healing) is left at once rather
 *   than when a write is refused;
 * - `reconnectOnError`: a write refused with READONLY reached a former primary: reconnect (through
 *   the sentinels) and fail that command with the READONLY error, an outage its caller retries;
 * - a reply timeout for the sentinels' answers, so one that hangs is skipped for the next.
 * A connect attempt that finds no sentinel retries the list (ioredis's `sentinelRetryStrategy`,
 * up to 1 s apart) while commands wait, each up to COMMAND_TIMEOUT_MS.
 */
const SENTINEL_CONNECTION_OPTIONS: RedisOptions = {
  role: 'master',
  failoverDetector: true,
  reconnectOnError: (err) => /^READONLY\b/.test(err.message),
  sentinelCommandTimeout: CONNECT_TIMEOUT_MS,
};

/** The command connection of a Redis backend, and what its messages must never show. */
export interface CommandConnection {
  client: Redis;
  /** Passwords in the URL or options (data nodes', sentinels'), to scrub from every message. */
  secrets: string[];
  /** For `sentinel://`: the name Sentinel monitors the primary under; undefined for redis:// and rediss://. */
  sentinelName: string | undefined;
  /** For `sentinel://`: where the connection goes, for naming (and probing) what failed; undefined otherwise. */
  sentinel?: SentinelRoute;
}

/** The servers a `sentinel://` connection talks to, and its TLS to each kind. */
export interface SentinelRoute {
  sentinels: Endpoint[];
  /** The primary the sentinels named last (to this client and its duplicates), null before any answer. */
  primary: () => Endpoint | null;
  /** TLS to the sentinels (resultBackendTransportOptions.sentinelTls); null: plain text. */
  sentinelTls: TlsConfig | null;
  /** TLS to the data nodes (backendTls); null: plain text. */
  dataTls: TlsConfig | null;
}

/**
 * Opens nothing yet (lazyConnect): a client for `redis://`, `rediss://` (the URL as ioredis reads
 * it, without the ssl_* parameters, with `tls` built from them or the app's settings) or
 * `sentinel://` (the primary found through the sentinels; see parseSentinelUrl and
 * SENTINEL_CONNECTION_OPTIONS). For sentinel://, `tls` is the data nodes' TLS (ioredis's `tls`
 * with `enableTLSForSentinelMode`: without that flag ioredis would ignore `tls` and connect to
 * the primary in plain text) and `connection.sentinelTls` the sentinels' (`sentinelTLS`, used
 * for the questions and for the +switch-master subscriptions alike); each is TLS or refused,
 * never plain text instead. Throws ConfigError for a bad sentinel:// URL.
 */
export function commandConnection(
  url: string,
  connection: BackendConnectionSettings = {},
  tls: TlsConfig | null = null,
): CommandConnection {
  if (schemeOf(url) !== 'sentinel') {
    const password = passwordOf(url);
    return {
      client: new Redis(withoutTlsParameters(url), connectionOptions(tls)),
      secrets: password ? [password] : [],
      sentinelName: undefined,
    };
  }
  const target = parseSentinelUrl(url, connection);
  const sentinelTls = connection.sentinelTls ?? null;
  const dataOption = redisTlsOption(tls);
  const sentinelOption = redisTlsOption(sentinelTls);
  let primary: Endpoint | null = null;
  const client = new Redis({
    ...CONNECTION_OPTIONS,
    ...SENTINEL_CONNECTION_OPTIONS,
    ...target,
    ...(dataOption ? { tls: dataOption, enableTLSForSentinelMode: true } : {}),
    ...(sentinelOption ? { sentinelTLS: sentinelOption } : {}),
    // Maps nothing: observes each address the sentinels name. ioredis resolves the primary's
    // address last, right before connecting to it, so the latest one is the primary's.
    natMap: (key: string) => {
      primary = endpointOfAddress(key) ?? primary;
      return null;
    },
  });
  const secrets = [target.password, target.sentinelPassword].filter((secret): secret is string => Boolean(secret));
  return {
    client,
    secrets,
    sentinelName: target.name,
    sentinel: { sentinels: target.sentinels, primary: () => primary, sentinelTls, dataTls: tls },
  };
}

/** `host:port` (ioredis's natMap key; the host may be an IPv6 address) as an Endpoint. */
function endpointOfAddress(key: string): Endpoint | null {
  const at = key.lastIndexOf(':');
  const port = Number(key.slice(at + 1));
  return at > 0 && Number.isInteger(port) && port > 0 ? { host: key.slice(0, at), port } : null;
}

export function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/**
 * Closes a connection and resolves once it has ended: QUIT when ready (pending replies still
 * arrive first), otherwise a disconnect that also stops reconnecting and fails queued commands
 * (ioredis ≥ 6.1 ends a connection disconnected between reconnect attempts, redis/ioredis#2169).
 */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'wait') {
    client.disconnect(); // never connected: no socket, ends synchronously
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready') {
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  } else {
    client.disconnect();
  }
  await ended;
}

/**
 * Error replies Redis gives while it cannot serve for a while (loading its data set, a script
 * running too long, a replica or cluster not ready — READONLY from a former master after a
 * fail-over —, out of memory, persistence failing, every client slot taken) or while this
 * client is not let in (NOAUTH, WRONGPASS: the password was rotated and the new one is not
 * deployed yet): an outage that passes, not a refusal of the command.
 */
const PASSING_CODES = [
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'READONLY',
  'OOM',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'NOREPLICAS',
  'MISCONF',
  'NOSCRIPT',
  'EXECABORT',
  'NOAUTH',
  'WRONGPASS',
];
const PASSING_REPLY = new RegExp(`\\b(?:${PASSING_CODES.join('|')})\\b|max number of clients reached`);

/**
 * Whether ioredis's error is Redis refusing this command for good — an error reply such as
 * WRONGTYPE (the key holds another type) or ERR — rather than a connection that failed, a
 * timeout or a passing condition (PASSING_REPLY). Sending the same command again cannot help.
 */
export function isRedisRefusal(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return false;
  return !PASSING_REPLY.test(err.message);
}
