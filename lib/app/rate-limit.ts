import { ConfigError } from '../errors/errors.js';

const PER: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A task's `rateLimit` — '100/s', '10/m', '1000/h' or a number (per second) — as starts per
 * millisecond. Throws ConfigError (option `rateLimit`) for anything else. A task parses its
 * rate once, when it is registered or its rate limit is changed (Task.setRateLimit).
 */
export function parseRate(rate: string | number): number {
  if (typeof rate === 'number') {
    if (Number.isFinite(rate) && rate > 0) return rate / 1000;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)\s*$/.exec(rate);
    if (match && Number(match[1]) > 0) return Number(match[1]) / PER[match[2]];
  }
  throw new ConfigError('rateLimit', `expected a rate such as '100/s', '10/m' or '1000/h', got ${JSON.stringify(rate)}`);
}
