import { ConfigError } from '../errors/errors.js';

/** A duration as the API accepts it: milliseconds, or a string such as '250ms', '30s', '5m', '1h', '1d'. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/**
 * Converts a Duration to milliseconds. `option` names the setting in the error message, so a
 * bad value fails fast with the option named. A bare numeric string counts as milliseconds.
 */
export function toMilliseconds(value: Duration, option: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(option, `expected a non-negative duration in ms, got ${value}`);
    }
    return value;
  }
  if (typeof value === 'string') {
    const match = PATTERN.exec(value);
    if (match) return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']);
  }
  throw new ConfigError(option, `expected a duration such as 500, '30s', '5m' or '1h', got ${JSON.stringify(value)}`);
}
