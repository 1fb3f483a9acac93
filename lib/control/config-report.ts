import { redactUrl } from '../util/url.js';

/** What a hidden value reads as. */
export const HIDDEN = '********';

/** Keys whose values are hidden whatever they hold. */
const SECRET_KEY = /pass|secret|token|credential|private|signature|api_?key|auth/i;

/**
 * The app's resolved config as Celery's `inspect conf` answers it: an object of JSON values,
 * with secrets hidden — the password of any URL (in any string), and the whole value of a key
 * that looks secret. Functions and class instances read as a short description, like Celery's
 * safe_repr; keys starting with `__` are left out, as Celery's. Depth and size are bounded, so a
 * config holding a large or cyclic object still answers.
 */
export function configReport(config: object): Record<string, unknown> {
  return jsonValue(config, 0, new WeakSet()) as Record<string, unknown>;
}

function jsonValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return hideUrlPasswords(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`;
  if (typeof value !== 'object') return null;
  if (value instanceof Set) return jsonValue([...value], depth, seen);
  if (value instanceof RegExp) return String(value);
  if (value instanceof Date) return value.toISOString();
  if (seen.has(value) || depth >= 6) return `<${value.constructor?.name ?? 'object'}>`;
  seen.add(value);
  if (Array.isArray(value)) return value.slice(0, 1000).map((item) => jsonValue(item, depth + 1, seen));
  const prototype = Object.getPrototypeOf(value);
  if (depth > 0 && prototype !== Object.prototype && prototype !== null) return `<${value.constructor?.name ?? 'object'}>`;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value).slice(0, 1000)) {
    if (key.startsWith('__') || item === undefined) continue;
    out[key] = SECRET_KEY.test(key) && item !== null ? HIDDEN : jsonValue(item, depth + 1, seen);
  }
  return out;
}

/** Every URL with a password in the text, with the password hidden. */
function hideUrlPasswords(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"']*/gi, (url) =>
    (url.includes('@') ? redactUrl(url) : url).replace(':***@', `:${HIDDEN}@`),
  );
}
