import { createRequire } from 'node:module';
import type { CronExpressionParser as CronParser } from 'cron-parser';
import type { CallOptions } from '../canvas/call-options.js';
import { ConfigError } from '../errors/errors.js';
import { toMilliseconds, type Duration } from '../util/duration.js';

/** One periodic task: `every` (a duration) or `cron` (5 or 6 fields, in `timezone`). */
export interface BeatEntry {
  task: string;
  every?: Duration;
  cron?: string;
  /** IANA zone of the cron expression, e.g. 'Europe/Paris'. Default UTC. */
  timezone?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: CallOptions;
}

export type BeatSchedule = Record<string, BeatEntry>;

const ENTRY_KEYS = ['task', 'every', 'cron', 'timezone', 'args', 'kwargs', 'options'];

/** A checked entry: `next(after)` is the first due time strictly after `after` (ms). */
export interface ScheduledEntry {
  name: string;
  entry: BeatEntry;
  next(after: number): number;
}

let cronParser: typeof CronParser | undefined;
/** cron-parser is loaded on the first cron entry: apps without one never load it. */
function cron(): typeof CronParser {
  cronParser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
  return cronParser;
}

export function checkSchedule(schedule: unknown): BeatSchedule {
  if (typeof schedule !== 'object' || schedule === null || Array.isArray(schedule))
    throw new ConfigError('beatSchedule', 'expected a map of entry name to { task, every | cron, ... }');
  for (const [name, entry] of Object.entries(schedule as Record<string, unknown>)) compileEntry(name, entry);
  return schedule as BeatSchedule;
}

export function compileEntry(name: string, raw: unknown): ScheduledEntry {
  const key = `beatSchedule.${name}`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(key, 'expected { task, every | cron, ... }');
  for (const k of Object.keys(raw))
    if (!ENTRY_KEYS.includes(k)) throw new ConfigError(`${key}.${k}`, `unknown entry option; known: ${ENTRY_KEYS.join(', ')}`);
  const entry = raw as BeatEntry;
  if (typeof entry.task !== 'string' || entry.task === '') throw new ConfigError(`${key}.task`, 'expected a task name');
  if ((entry.every === undefined) === (entry.cron === undefined)) throw new ConfigError(key, 'give exactly one of `every` and `cron`');
  if (entry.every !== undefined) {
    const every = toMilliseconds(entry.every, `${key}.every`);
    if (every <= 0) throw new ConfigError(`${key}.every`, 'must be more than 0');
    // Due times are multiples of `every` since the epoch: every beat process computes the same ones.
    return { name, entry, next: (after) => (Math.floor(after / every) + 1) * every };
  }
  const tz = entry.timezone ?? 'UTC';
  try {
    cron().parse(entry.cron!, { tz, currentDate: new Date() });
  } catch (error) {
    throw new ConfigError(
      `${key}.cron`,
      `invalid cron expression ${JSON.stringify(entry.cron)} (timezone ${tz}): ${(error as Error).message}`,
    );
  }
  return {
    name,
    entry,
    next: (after) =>
      cron()
        .parse(entry.cron!, { tz, currentDate: new Date(after) })
        .next()
        .getTime(),
  };
}
