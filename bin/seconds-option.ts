import type { Duration } from '../lib/index.js';

/**
 * A duration flag as Celery users type it: a bare number is seconds, as in Celery (`-t 5`,
 * `--countdown 10`, `--expires 60`); a number with a unit is what it says (`500ms`, `2m`).
 * Other text is passed on, so the library's error names what it expected.
 */
export function celerySeconds(value: unknown): Duration {
  const text = String(Array.isArray(value) ? value.at(-1) : value).trim();
  return /^\d+(\.\d+)?$/.test(text) ? `${text}s` : text;
}
