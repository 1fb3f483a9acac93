import { ConfigError } from '../errors/errors.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { resolveTls, type TlsConfig, type TlsOptions } from '../util/tls-settings.js';
import { redactUrl, schemeOf } from '../util/url.js';

/**
 * The createApp options that tune how the result backend connects and when a write counts as
 * done, checked once at createApp (ConfigError naming the option) and handed to the backend
 * factory as BackendOptions.connection and BackendOptions.waitForReplicas.
 */

/**
 * `resultBackendTransportOptions`: Celery's `result_backend_transport_options`, for a
 * `sentinel://` backend. Each setting has celeriac's spelling and Celery's; giving both with
 * different values is a ConfigError.
 */
export interface ResultBackendTransportOptions {
  /** The name Sentinel monitors the primary under (`sentinel monitor <name> ...`). The URL's `master_name` wins. */
  masterName?: string;
  /** Celery's spelling of `masterName`. */
  master_name?: string;
  /** The sentinels' own password (their `requirepass`), when they have one. */
  sentinelPassword?: string;
  /** The sentinels' ACL user name, when they have one. */
  sentinelUsername?: string;
  /**
   * TLS to the sentinels themselves (what `backendTls` is to the data nodes): the same fields as
   * backendTls ({ caFile, certFile, keyFile, certReqs, serverHostname }, or Celery's ssl_* names),
   * or `true` for the defaults. Without it and without sentinel_kwargs.ssl,
   * $CELERIAC_BACKEND_SENTINEL_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _CERT_REQS, _SERVER_HOSTNAME.
   */
  sentinelTls?: TlsOptions | true;
  /**
   * Celery's keyword arguments of its sentinel connections: the sentinels' credentials
   * `{ password, username }` and their TLS `{ ssl: true, ssl_ca_certs, ssl_certfile, ssl_keyfile,
   * ssl_cert_reqs }` (redis-py's names; ssl_* without `ssl: true` is refused, since redis-py would
   * then connect in plain text).
   */
  sentinel_kwargs?: SentinelKwargs;
}

/** Celery's `sentinel_kwargs` as celeriac reads them. */
export interface SentinelKwargs {
  password?: string;
  username?: string;
  ssl?: boolean;
  ssl_ca_certs?: string;
  ssl_certfile?: string;
  ssl_keyfile?: string;
  ssl_cert_reqs?: string;
  ssl_server_hostname?: string;
}

/** The transport options after checking, one spelling each. */
export interface BackendConnectionSettings {
  masterName?: string;
  sentinelPassword?: string;
  sentinelUsername?: string;
  /** TLS to the sentinels, files read; absent or null: plain text. */
  sentinelTls?: TlsConfig | null;
}

/**
 * `resultBackendWaitForReplicas`: after every write, Redis `WAIT replicas timeout` on the same
 * connection, so a write counts as done only once that many replicas acknowledged it.
 */
export interface WaitForReplicasOption {
  /** Replicas that must acknowledge each write: a positive integer. */
  replicas: number;
  /** How long to wait for them, at least 1 ms and under 10 s (the backend's command timeout): 250, '500ms', '2s'. */
  timeout: Duration;
}

export interface WaitForReplicas {
  replicas: number;
  timeoutMs: number;
}

/**
 * The longest WAIT timeout accepted: below the command timeout of the backend's connection
 * (lib/backends/redis/connection.ts), which would otherwise end the WAIT first.
 */
export const MAX_WAIT_TIMEOUT_MS = 9_000;

const TRANSPORT_OPTION = 'resultBackendTransportOptions';
const WAIT_OPTION = 'resultBackendWaitForReplicas';
const TRANSPORT_KEYS = ['masterName', 'master_name', 'sentinelPassword', 'sentinelUsername', 'sentinelTls', 'sentinel_kwargs'];
const SENTINEL_TLS_KWARGS = ['ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile', 'ssl_cert_reqs', 'ssl_server_hostname'];
const SENTINEL_KWARGS_KEYS = ['password', 'username', 'ssl', ...SENTINEL_TLS_KWARGS];
export const SENTINEL_TLS_ENV_PREFIX = 'CELERIAC_BACKEND_SENTINEL_TLS_';

/**
 * Checks `resultBackendTransportOptions` for the app's backend URL (`backend`; null when none)
 * and reads the sentinels' TLS settings (files read now), from sentinelTls or sentinel_kwargs,
 * else, for a sentinel:// backend, the environment ($CELERIAC_BACKEND_SENTINEL_TLS_*). Throws
 * ConfigError naming the option: an unknown key, both spellings given and different, sentinel
 * TLS for a backend that is not sentinel://, ssl_* in sentinel_kwargs without `ssl: true`.
 */
export function resolveTransportOptions(
  value: unknown,
  backend: string | null = null,
  env: NodeJS.ProcessEnv = process.env,
): BackendConnectionSettings {
  const settings = resolveTransportSettings(value);
  const sentinelTls = resolveSentinelTls(value, backend, env);
  return sentinelTls === null ? settings : { ...settings, sentinelTls };
}

function resolveTransportSettings(value: unknown): BackendConnectionSettings {
  if (value === undefined) return {};
  const given = plainObject(TRANSPORT_OPTION, value);
  for (const key of Object.keys(given)) {
    if (!TRANSPORT_KEYS.includes(key))
      throw new ConfigError(`${TRANSPORT_OPTION}.${key}`, `unknown option; known: ${TRANSPORT_KEYS.join(', ')}`);
  }
  const kwargs = given.sentinel_kwargs === undefined ? {} : plainObject(`${TRANSPORT_OPTION}.sentinel_kwargs`, given.sentinel_kwargs);
  for (const key of Object.keys(kwargs)) {
    if (!SENTINEL_KWARGS_KEYS.includes(key)) {
      throw new ConfigError(`${TRANSPORT_OPTION}.sentinel_kwargs.${key}`, `unknown option; known: ${SENTINEL_KWARGS_KEYS.join(', ')}`);
    }
  }
  const settings: BackendConnectionSettings = {};
  const masterName = oneOf('masterName', given.masterName, 'master_name', given.master_name);
  if (masterName !== undefined) settings.masterName = masterName;
  const password = oneOf('sentinelPassword', given.sentinelPassword, 'sentinel_kwargs.password', kwargs.password);
  if (password !== undefined) settings.sentinelPassword = password;
  const username = oneOf('sentinelUsername', given.sentinelUsername, 'sentinel_kwargs.username', kwargs.username);
  if (username !== undefined) settings.sentinelUsername = username;
  return settings;
}

/**
 * The sentinels' TLS: `sentinelTls` (celeriac's spelling) or `sentinel_kwargs` { ssl: true,
 * ssl_* } (Celery's), one of them; neither given: the environment (sentinel:// only). Null: plain
 * text.
 */
function resolveSentinelTls(value: unknown, backend: string | null, env: NodeJS.ProcessEnv): TlsConfig | null {
  const given = value === undefined ? {} : (value as Record<string, unknown>);
  const kwargs = given.sentinel_kwargs === undefined ? {} : (given.sentinel_kwargs as Record<string, unknown>);
  const kwargsOption = `${TRANSPORT_OPTION}.sentinel_kwargs`;
  if (kwargs.ssl !== undefined && typeof kwargs.ssl !== 'boolean') {
    throw new ConfigError(`${kwargsOption}.ssl`, `expected true or false, got ${JSON.stringify(kwargs.ssl)}`);
  }
  const tlsKwargs = Object.fromEntries(SENTINEL_TLS_KWARGS.filter((key) => kwargs[key] !== undefined).map((key) => [key, kwargs[key]]));
  const firstTlsKwarg = Object.keys(tlsKwargs)[0];
  if (firstTlsKwarg !== undefined && kwargs.ssl !== true) {
    throw new ConfigError(
      `${kwargsOption}.${firstTlsKwarg}`,
      `TLS settings for the sentinels without ssl: ${kwargs.ssl === false ? 'ssl is false' : 'ssl is not set'} ` +
        '(redis-py would connect to them in plain text): add ssl: true, or remove the ssl_* settings',
    );
  }
  const fromKwargs: Record<string, unknown> | true | undefined =
    kwargs.ssl === true ? (firstTlsKwarg === undefined ? true : tlsKwargs) : undefined;
  const camel = given.sentinelTls;
  if (camel !== undefined && camel !== null && fromKwargs !== undefined) {
    throw new ConfigError(
      `${TRANSPORT_OPTION}.sentinelTls`,
      "sentinelTls and sentinel_kwargs.ssl both give the sentinels' TLS: give one of them",
    );
  }
  const [option, tls] =
    fromKwargs !== undefined ? [kwargsOption, fromKwargs] : [`${TRANSPORT_OPTION}.sentinelTls`, camel === null ? undefined : camel];
  const sentinel = backend !== null && schemeOf(backend) === 'sentinel';
  const resolved = resolveTls({
    urlOption: 'backend',
    url: backend ?? '',
    option,
    given: tls,
    // The variables are read for a sentinel:// backend only: set for a host, they do not stop an app using another backend.
    ...(sentinel ? { envPrefix: SENTINEL_TLS_ENV_PREFIX, env } : {}),
    settingsTurnTlsOn: true,
  });
  if (resolved !== null && !sentinel) {
    throw new ConfigError(
      option,
      `TLS settings for Redis sentinels, but the result backend is ${backend === null ? 'not configured' : redactUrl(backend)}, ` +
        'not sentinel://',
    );
  }
  return resolved;
}

export function resolveWaitForReplicas(value: unknown): WaitForReplicas | null {
  if (value === undefined || value === null) return null;
  const given = plainObject(WAIT_OPTION, value);
  for (const key of Object.keys(given)) {
    if (key !== 'replicas' && key !== 'timeout') throw new ConfigError(`${WAIT_OPTION}.${key}`, 'unknown option; known: replicas, timeout');
  }
  const { replicas, timeout } = given;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) {
    throw new ConfigError(`${WAIT_OPTION}.replicas`, `expected a positive integer, got ${JSON.stringify(replicas)}`);
  }
  if (timeout === undefined) throw new ConfigError(`${WAIT_OPTION}.timeout`, "required: how long to wait for the replicas, e.g. '500ms'");
  const timeoutMs = toMilliseconds(timeout as Duration, `${WAIT_OPTION}.timeout`);
  // WAIT's 0 means "block forever": refused, as is a wait the connection's command timeout would cut.
  if (timeoutMs < 1 || timeoutMs > MAX_WAIT_TIMEOUT_MS) {
    throw new ConfigError(`${WAIT_OPTION}.timeout`, `expected 1 ms to ${MAX_WAIT_TIMEOUT_MS} ms, got ${JSON.stringify(timeout)}`);
  }
  return { replicas, timeoutMs: Math.ceil(timeoutMs) };
}

function plainObject(option: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(option, `expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The value given under either spelling; both given and different is a ConfigError naming both. */
function oneOf(name: string, value: unknown, otherName: string, other: unknown): string | undefined {
  for (const [key, given] of [
    [name, value],
    [otherName, other],
  ] as const) {
    if (given !== undefined && (typeof given !== 'string' || given === '')) {
      // The value is not shown: it may be a password.
      throw new ConfigError(
        `${TRANSPORT_OPTION}.${key}`,
        `expected a non-empty string, got ${given === '' ? 'an empty one' : typeof given}`,
      );
    }
  }
  if (value !== undefined && other !== undefined && value !== other) {
    throw new ConfigError(`${TRANSPORT_OPTION}.${name}`, `${name} and ${otherName} are the same setting and differ; give one`);
  }
  return (value ?? other) as string | undefined;
}
