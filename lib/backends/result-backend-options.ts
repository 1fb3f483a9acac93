import { ConfigError } from '../errors/errors.js';
import { toMilliseconds, type Duration } from '../util/duration.js';

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
  /** Celery's way to give the sentinels' credentials: `{ password, username }`. */
  sentinel_kwargs?: { password?: string; username?: string };
}

/** The transport options after checking, one spelling each. */
export interface BackendConnectionSettings {
  masterName?: string;
  sentinelPassword?: string;
  sentinelUsername?: string;
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
const TRANSPORT_KEYS = ['masterName', 'master_name', 'sentinelPassword', 'sentinelUsername', 'sentinel_kwargs'];
const SENTINEL_KWARGS_KEYS = ['password', 'username'];

export function resolveTransportOptions(value: unknown): BackendConnectionSettings {
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
