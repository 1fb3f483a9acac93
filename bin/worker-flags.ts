import { ConfigError, HEARTBEAT_SECONDS, type WorkerOptions } from '../lib/index.js';
import type { WorkerArgs } from './commands/worker.js';

/**
 * Celery's worker flags read into WorkerOptions, each as Celery reads it (seconds, KiB, MAX,MIN);
 * a bad value throws a ConfigError naming the flag. 0 means "no limit", as for Celery, whose
 * pool takes a falsy limit for none.
 */
export function celeryWorkerOptions(args: WorkerArgs, env: NodeJS.ProcessEnv = process.env): WorkerOptions {
  const options: WorkerOptions = {};
  const hard = seconds(args['time-limit'], '--time-limit');
  const soft = seconds(args['soft-time-limit'], '--soft-time-limit');
  if (hard !== null) options.timeLimit = hard;
  if (soft !== null) options.softTimeLimit = soft;
  const tasks = count(args['max-tasks-per-child'], '--max-tasks-per-child');
  const memory = count(args['max-memory-per-child'], '--max-memory-per-child');
  if (tasks !== null) options.maxTasksPerChild = tasks;
  if (memory !== null) options.maxMemoryPerChild = memory;
  if (args.autoscale !== undefined) options.autoscale = parseAutoscale(args.autoscale, env.AUTOSCALE_KEEPALIVE);
  const multiplier = args['prefetch-multiplier'];
  if (multiplier !== undefined) options.prefetchMultiplier = multiplier;
  // -O fair: take only what can start now. An explicit --prefetch-multiplier still wins.
  else if (args.O === 'fair') options.prefetchMultiplier = 1;
  return options;
}

/** Seconds between worker-heartbeat events: --heartbeat-interval (default 2), or null with --without-heartbeat. */
export function heartbeatInterval(args: WorkerArgs): number | null {
  if (args['without-heartbeat']) return null;
  const interval = args['heartbeat-interval'];
  if (interval === undefined) return HEARTBEAT_SECONDS;
  if (!(Number.isFinite(interval) && interval > 0))
    throw new ConfigError('--heartbeat-interval', `expected seconds above 0, got ${String(interval)}`);
  return interval;
}

/**
 * Celery's --autoscale: `MAX,MIN` (in either order: the larger is the max) or `MAX` (min 0).
 * `keepalive`: $AUTOSCALE_KEEPALIVE, seconds before the autoscaler may shrink (Celery's, default 30).
 */
export function parseAutoscale(text: string, keepalive: string | undefined): NonNullable<WorkerOptions['autoscale']> {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length > 2 || !parts.every((part) => /^\d+$/.test(part))) {
    throw new ConfigError('--autoscale', `expected MAX,MIN or MAX (integers), got ${JSON.stringify(text)}`);
  }
  const [max, min = 0] = parts.map(Number).sort((a, b) => b - a) as [number, number?];
  if (max < 1) throw new ConfigError('--autoscale', `the max must be at least 1, got ${JSON.stringify(text)}`);
  const bounds: NonNullable<WorkerOptions['autoscale']> = { max, min };
  if (keepalive !== undefined && keepalive !== '') {
    const value = Number(keepalive);
    if (!(Number.isFinite(value) && value > 0)) {
      throw new ConfigError('AUTOSCALE_KEEPALIVE', `expected seconds above 0, got ${JSON.stringify(keepalive)}`);
    }
    bounds.keepalive = Math.round(value * 1000);
  }
  return bounds;
}

/** Seconds (a float, Celery's unit) as milliseconds; null for absent or 0. */
function seconds(value: number | undefined, flag: string): number | null {
  if (value === undefined || value === 0) return null;
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(flag, `expected seconds (0: none), got ${String(value)}`);
  return Math.max(1, Math.round(value * 1000));
}

/** A positive integer; null for absent or 0. */
function count(value: number | undefined, flag: string): number | null {
  if (value === undefined || value === 0) return null;
  if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError(flag, `expected a whole number (0: none), got ${String(value)}`);
  return value;
}
