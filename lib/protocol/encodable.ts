import { truncateText } from '../util/truncate.js';

/**
 * Which values a serializer writes faithfully: what Celery's JSON (kombu's encoder) or Python's
 * msgpack would write and a reader would get back. Anything else is refused — never written
 * as something else. JSON.stringify alone would write a Map, a Set or an Error as `{}`, and
 * msgpackr a class instance as a bare map: the value would be lost without an error.
 *
 * JSON: strings, booleans, null, finite numbers, BigInts within ±(2^53−1) (as numbers),
 * Dates (ISO 8601), boxed primitives, arrays and plain objects (prototype Object.prototype
 * or null) of those, and any object with a `toJSON` method (its result is checked in turn),
 * e.g. Buffer or URL. `undefined` is dropped from objects and written as null in arrays,
 * as JSON.stringify does; at the top level it is refused.
 * msgpack: the same, plus Map (a msgpack map; keys strings or numbers), Buffer and typed arrays
 * (bin), NaN and ±Infinity (floats) and BigInts within int64; `toJSON` is not consulted.
 *
 * Refused (with the type and its path): functions, symbols, Map and Set (JSON), WeakMap,
 * WeakSet, Promise, Error, RegExp, instances of other classes, typed arrays (JSON), BigInts
 * beyond those ranges, NaN and ±Infinity (JSON), invalid Dates, circular references.
 */
export type EncodableFormat = 'json' | 'msgpack';

/**
 * The first value in `value` that `format` cannot write faithfully, described with its path
 * (`root` names the top, '' for none: 'args' gives paths such as `args[2].cache`, '' and a
 * result meta `result.cache`); null when everything can be written. Deeper than MAX_DEPTH is
 * refused too (a serializer would overflow the stack).
 */
export function findUnencodable(value: unknown, format: EncodableFormat, root: string): string | null {
  return scanEncodable(value, format, root).problem;
}

/**
 * findUnencodable, also telling whether the value holds a BigInt (JSON.stringify needs a
 * replacer for those, which makes it several times slower: without one it is not needed).
 */
export function scanEncodable(value: unknown, format: EncodableFormat, root: string): { problem: string | null; hasBigInt: boolean } {
  const seen = { bigint: false };
  const problem = firstProblem(value, format, seen);
  if (!problem) return { problem: null, hasBigInt: seen.bigint };
  return { problem: describe(problem, format, root), hasBigInt: seen.bigint };
}

function describe(problem: Problem, format: EncodableFormat, root: string): string {
  const { what, keys, hint } = problem;
  const path = keys.length === 0 && root === '' ? 'the top level' : truncateText(formatPath(root, keys), MAX_PATH_CHARS);
  return `${what} at ${path} cannot be written as ${format === 'json' ? 'JSON' : 'msgpack'}${hint ? ` (${hint})` : ''}`;
}

/** A path in an error message is cut past this (keys come from input and can be any length). */
const MAX_PATH_CHARS = 512;

interface Problem {
  what: string;
  /** Property names and array indexes from the top to the value. */
  keys: (string | number)[];
  hint?: string;
}

function firstProblem(value: unknown, format: EncodableFormat, seen: { bigint: boolean }): Problem | null {
  const ancestors = new Set<object>();
  const keys: (string | number)[] = [];
  const found = (what: string, hint?: string): Problem => ({ what, keys: [...keys], ...(hint ? { hint } : {}) });
  const visitChild = (child: unknown, key: string | number, depth: number): Problem | null => {
    keys.push(key);
    const problem = visit(child, depth + 1);
    keys.pop();
    return problem;
  };
  const visit = (current: unknown, depth: number): Problem | null => {
    switch (typeof current) {
      case 'string':
      case 'boolean':
        return null;
      case 'undefined':
        return depth === 0 ? found('undefined', 'nothing to write') : null;
      case 'number':
        return format === 'json' && !Number.isFinite(current) ? found(String(current), 'JSON numbers are finite') : null;
      case 'bigint':
        seen.bigint = true;
        return bigintProblem(current, format, found);
      case 'function':
        return found('a function');
      case 'symbol':
        return found('a symbol');
      case 'object':
        break; // null, or an object: below
    }
    if (current === null) return null;
    const object = current;
    if (depth >= MAX_DEPTH) return found(`a value nested deeper than ${MAX_DEPTH} levels`);
    if (object instanceof Date) return Number.isNaN(object.getTime()) ? found('an invalid Date') : null;
    if (format === 'json' && typeof (object as { toJSON?: unknown }).toJSON === 'function') {
      const key = keys.length === 0 ? '' : String(keys[keys.length - 1]);
      const replaced = (object as { toJSON: (key: string) => unknown }).toJSON(key);
      return replaced === object ? null : visit(replaced, depth);
    }
    if (object instanceof Number || object instanceof String || object instanceof Boolean) return null;
    if (ancestors.has(object)) return found('a circular reference');
    ancestors.add(object);
    try {
      if (Array.isArray(object)) {
        for (let i = 0; i < object.length; i++) {
          const problem = visitChild(object[i], i, depth);
          if (problem) return problem;
        }
        return null;
      }
      if (format === 'msgpack' && (Buffer.isBuffer(object) || ArrayBuffer.isView(object))) return null;
      if (format === 'msgpack' && object instanceof Map) {
        for (const [key, entry] of object) {
          if (typeof key !== 'string' && typeof key !== 'number')
            return found(`a Map key of type ${typeName(key)}`, 'map keys must be strings or numbers');
          const problem = visitChild(entry, String(key), depth);
          if (problem) return problem;
        }
        return null;
      }
      const prototype = Object.getPrototypeOf(object) as unknown;
      if (prototype !== Object.prototype && prototype !== null) return found(article(typeName(object)), hint(object, format));
      for (const key of Object.keys(object)) {
        const problem = visitChild((object as Record<string, unknown>)[key], key, depth);
        if (problem) return problem;
      }
      return null;
    } finally {
      ancestors.delete(object);
    }
  };
  return visit(value, 0);
}

/** `root.key[3]["odd key"]`; without a root the first property name stands alone. */
function formatPath(root: string, keys: readonly (string | number)[]): string {
  let path = root;
  for (const key of keys) {
    if (typeof key === 'number') path += `[${key}]`;
    else if (!/^[A-Za-z_$][\w$]*$/.test(key)) path += `[${JSON.stringify(key)}]`;
    else path += path === '' ? key : `.${key}`;
  }
  return path;
}

/** Deeper values are refused: JSON.stringify and msgpackr recurse, and would overflow the stack. */
const MAX_DEPTH = 1000;

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

function bigintProblem(value: bigint, format: EncodableFormat, found: (what: string, hint: string) => Problem): Problem | null {
  if (format === 'json') {
    const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? null : found('a BigInt beyond ±(2^53−1)', 'a JSON number would not keep it exactly: send it as a string');
  }
  return value >= INT64_MIN && value <= UINT64_MAX ? null : found('a BigInt beyond 64 bits', 'send it as a string');
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name ? name : 'object';
}

function article(name: string): string {
  return `${/^[AEIO]/i.test(name) ? 'an' : 'a'} ${name}`;
}

function hint(object: object, format: EncodableFormat): string {
  if (object instanceof Map) return 'convert it with Object.fromEntries(map)';
  if (object instanceof Set) return 'convert it with [...set]';
  if (object instanceof Error) return 'throw it, or send its message';
  return format === 'json' ? 'give its class a toJSON() method, or send a plain object' : 'send a plain object';
}
