import { hostname as osHostname } from 'node:os';
import type { Logger } from 'winston';
import { positiveInteger } from '../app/config.js';
import { ConfigError } from '../errors/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/compression.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import type { WorkerHost } from './host.js';
import type { AutoscaleBounds } from './autoscaler.js';
import type { TimeLimits } from './time-limits.js';
import { defaultConcurrency, prefetchRule, type PrefetchRule } from './pool-defaults.js';

export interface WorkerOptions {
  /**
   * Most tasks running at once. Default: the app's `concurrency`, else the pool's: 16 for the
   * async pool, the number of CPUs for the threads pool (pool-defaults.ts).
   */
  concurrency?: number;
  /**
   * Prefetch = concurrency × this (Celery's meaning). Default: the app's `prefetchMultiplier`,
   * else the pool's rule: concurrency × 4, and with the async pool at least 64 (pool-defaults.ts).
   */
  prefetchMultiplier?: number;
  /** Queues to consume. Default: [app.defaultQueue]. */
  queues?: string[];
  /** Node name; %h = host name, %n = host name up to the first dot, %d = domain. Default 'celeriac@%h'. */
  hostname?: string;
  /** How long stop() lets running tasks finish before aborting them and requeueing their messages. Default '30s'. */
  shutdownTimeout?: Duration;
  /**
   * Pauses between attempts to store a task's outcome when the result backend fails; after the
   * last one the message is requeued (not acked). Default ['200ms', '1s', '3s'].
   */
  resultStoreRetryDelays?: Duration[];
  /** A logger to use instead of the app's. */
  logger?: Logger;
  /**
   * Where tasks run: 'async' (default; the worker's event loop) or 'threads' (worker_threads;
   * a hard time limit terminates the thread). See docs/tasks.md.
   */
  pool?: 'async' | 'threads';
  /** For the threads pool: the module (path or URL) exporting this app, imported by every thread. */
  appModule?: string;
  /**
   * Poison-message limit: how many times a task may start again on a redelivered message (its
   * previous holder died, hung past the heartbeat or lost its connection before settling it)
   * before it is dead-lettered with reason `redelivery-limit` instead. Counted per task id in
   * the result backend (redis://, memory://; not rpc://); see docs/reliability.md. On a quorum
   * queue the broker's delivery count is used instead (no backend needed): a delivery whose
   * count exceeds this is dead-lettered. Default 10; null: no limit.
   */
  maxRedeliveries?: number | null;
  /** Bodies larger than this many bytes are dead-lettered (reason `too-large`) without decoding. Default 64 MiB; null: no limit. */
  maxMessageSize?: number | null;
  /**
   * Hard time limit of tasks that have none of their own (neither in the message nor in the
   * task's options): Celery's `--time-limit`. Default null: none.
   */
  timeLimit?: Duration | null;
  /** Soft time limit of tasks that have none of their own: Celery's `--soft-time-limit`. Default null: none. */
  softTimeLimit?: Duration | null;
  /**
   * Celery's `--max-tasks-per-child`: with the threads pool, a thread that ran this many tasks is
   * replaced by a fresh one; with the async pool (no child: tasks run on the worker's event
   * loop) the worker itself stops after this many tasks and emits `recycle` (see Worker).
   * Default null: no limit.
   */
  maxTasksPerChild?: number | null;
  /**
   * Celery's `--max-memory-per-child`, in KiB: with the threads pool, a thread whose heap is
   * past this after a task is replaced (the task that crossed it completes first); with the
   * async pool the worker stops, and emits `recycle`, when the process's resident memory is
   * past it after a task. Default null: no limit.
   */
  maxMemoryPerChild?: number | null;
  /**
   * Celery's `--autoscale`: concurrency follows the load between `min` and `max` (see
   * autoscaler.ts). It starts at `min` (`concurrency` is not used) and the prefetch is that of
   * a concurrency of `max` (max × prefetchMultiplier). `keepalive`: how long after growing
   * before it may shrink (default '30s', Celery's AUTOSCALE_KEEPALIVE). Default null: a fixed
   * concurrency.
   */
  autoscale?: { max: number; min: number; keepalive?: Duration } | null;
}

/**
 * Every option name, in the order the unknown-option error lists them. Typed as a record of
 * exactly WorkerOptions' keys: a key added to the interface and not here, or here and not
 * there, fails to compile.
 */
const OPTION_NAMES: { readonly [K in keyof Required<WorkerOptions>]: true } = {
  concurrency: true,
  prefetchMultiplier: true,
  queues: true,
  hostname: true,
  shutdownTimeout: true,
  resultStoreRetryDelays: true,
  logger: true,
  pool: true,
  appModule: true,
  maxRedeliveries: true,
  maxMessageSize: true,
  timeLimit: true,
  softTimeLimit: true,
  maxTasksPerChild: true,
  maxMemoryPerChild: true,
  autoscale: true,
};

export const WORKER_OPTION_KEYS: readonly (keyof WorkerOptions)[] = Object.keys(OPTION_NAMES) as (keyof WorkerOptions)[];

/** A worker's options checked, defaults applied and durations in milliseconds. */
export interface WorkerSettings {
  /** Tasks run at once at the start (autoscale: its min). */
  readonly concurrency: number;
  /** How the prefetch follows the concurrency: the multiplier given, or the pool's rule. */
  readonly prefetch: PrefetchRule;
  readonly queues: readonly string[];
  /** The node name, %h, %n and %d expanded. */
  readonly hostname: string;
  readonly shutdownTimeoutMs: number;
  readonly maxRedeliveries: number | null;
  readonly maxMessageSize: number | null;
  /** The worker's own logger: a child of the option's (or the host's) naming the worker. */
  readonly logger: Logger;
  readonly pool: string;
  readonly appModule: string | undefined;
  readonly storeRetryDelaysMs: readonly number[];
  readonly defaultTimeLimits: TimeLimits;
  readonly maxTasksPerChild: number | null;
  /** In KiB, as the option. */
  readonly maxMemoryPerChild: number | null;
  readonly autoscale: AutoscaleBounds | null;
}

/**
 * Checks `options` and fills in the defaults (the host's config for concurrency, prefetch and
 * the queue, then the pool's: pool-defaults.ts). Throws ConfigError naming the first option that is unknown or bad; the pool's own
 * options (`pool`, `appModule`) are checked when the pool is made (createPool).
 */
export function resolveWorkerOptions(options: WorkerOptions, host: Pick<WorkerHost, 'config' | 'logger'>): WorkerSettings {
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(OPTION_NAMES, key)) throw new ConfigError(key, `unknown worker option; known: ${WORKER_OPTION_KEYS.join(', ')}`);
  }
  const autoscale = options.autoscale == null ? null : autoscaleBounds(options.autoscale);
  const pool = options.pool ?? 'async';
  const concurrency = autoscale
    ? autoscale.min
    : positiveInteger('concurrency', options.concurrency ?? host.config.concurrency ?? defaultConcurrency(pool));
  const multiplier = options.prefetchMultiplier ?? host.config.prefetchMultiplier;
  const queues = options.queues?.length ? [...options.queues] : [host.config.defaultQueue];
  const hostname = expandHostname(options.hostname ?? 'celeriac@%h');
  const shutdownTimeoutMs = toMilliseconds(options.shutdownTimeout ?? '30s', 'shutdownTimeout');
  const maxRedeliveries = options.maxRedeliveries === null ? null : nonNegativeInteger('maxRedeliveries', options.maxRedeliveries ?? 10);
  const maxMessageSize =
    options.maxMessageSize === null ? null : positiveInteger('maxMessageSize', options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES);
  const storeRetryDelaysMs = (options.resultStoreRetryDelays ?? ['200ms', '1s', '3s']).map((d) =>
    toMilliseconds(d, 'resultStoreRetryDelays'),
  );
  const limit = (value: Duration | null | undefined, option: string): number | null =>
    value == null ? null : positiveDuration(value, option);
  return {
    concurrency,
    prefetch: prefetchRule(pool, multiplier == null ? null : positiveInteger('prefetchMultiplier', multiplier)),
    queues,
    hostname,
    shutdownTimeoutMs,
    maxRedeliveries,
    maxMessageSize,
    logger: (options.logger ?? host.logger).child({ worker: hostname }),
    pool,
    appModule: options.appModule,
    storeRetryDelaysMs,
    defaultTimeLimits: { hardMs: limit(options.timeLimit, 'timeLimit'), softMs: limit(options.softTimeLimit, 'softTimeLimit') },
    maxTasksPerChild: options.maxTasksPerChild == null ? null : positiveInteger('maxTasksPerChild', options.maxTasksPerChild),
    maxMemoryPerChild: options.maxMemoryPerChild == null ? null : positiveInteger('maxMemoryPerChild', options.maxMemoryPerChild),
    autoscale,
  };
}

/** A limit of 0 would fire at once: refused, as null (no limit) says what is meant. */
function positiveDuration(value: Duration, option: string): number {
  const ms = toMilliseconds(value, option);
  if (ms <= 0) throw new ConfigError(option, `must be more than 0 (null: no limit), got ${JSON.stringify(value)}`);
  return ms;
}

function autoscaleBounds(value: NonNullable<WorkerOptions['autoscale']>): AutoscaleBounds {
  if (typeof value !== 'object') throw new ConfigError('autoscale', `expected { max, min }, got ${JSON.stringify(value)}`);
  const max = positiveInteger('autoscale.max', value.max);
  const min = nonNegativeInteger('autoscale.min', value.min);
  if (min > max) throw new ConfigError('autoscale.min', `must be at most autoscale.max (${max}), got ${min}`);
  const keepaliveMs = positiveDuration(value.keepalive ?? '30s', 'autoscale.keepalive');
  return { max, min, keepaliveMs };
}

function nonNegativeInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(option, `must be a non-negative integer, got ${value}`);
  return value;
}

/** Expands %h (host name), %n (host name up to the first dot) and %d (the domain after it). */
export function expandHostname(pattern: string): string {
  const host = osHostname();
  const dot = host.indexOf('.');
  return pattern
    .replaceAll('%h', host)
    .replaceAll('%n', dot === -1 ? host : host.slice(0, dot))
    .replaceAll('%d', dot === -1 ? '' : host.slice(dot + 1));
}
