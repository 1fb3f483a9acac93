import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';
import { SerializationError } from '../errors/errors.js';
import { findUnencodable, scanEncodable } from './encodable.js';

/**
 * A body codec, chosen on encode by name and on decode by the message's content type.
 * `encode` and `decode` throw SerializationError; they never return partial data.
 */
export interface Serializer {
  readonly name: string;
  readonly contentType: string;
  readonly contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(body: Buffer): unknown;
}

/**
 * JSON as Celery 5.2 writes it: Dates become ISO 8601 strings. On decode, values that newer
 * kombu wraps as `{"__type__": "datetime", "__value__": "..."}` (also date, time, uuid,
 * decimal, bytes) are unwrapped: datetimes to Date, the others to their string value.
 */
const json: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode(value) {
    try {
      return Buffer.from(stringifyJson(value));
    } catch (error) {
      throw new SerializationError(`cannot encode as JSON: ${(error as Error).message}`, { cause: error });
    }
  },
  decode(body) {
    // toString('utf8') would silently turn invalid bytes into U+FFFD: refuse them instead.
    if (!isUtf8(body)) throw new SerializationError('body is not valid UTF-8');
    try {
      // The reviver costs several times the parse itself: only bodies that contain the wrapper's
      // key need it (kombu writes the key literally, never with escapes).
      const text = body.toString('utf8');
      return text.includes('"__type__"') ? JSON.parse(text, unwrapKombuTypes) : JSON.parse(text);
    } catch (error) {
      throw new SerializationError(`body is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  },
};

/**
 * JSON.stringify that throws (TypeError) on values it would not write faithfully — Map, Set,
 * class instances, functions, symbols, NaN, Infinity, BigInts beyond ±(2^53−1)... (see
 * encodable.ts) — naming the value's type and path, so a task's result never silently becomes
 * `{}` or null. BigInts within that range become numbers.
 */
export function stringifyJson(value: unknown): string {
  // A replacer makes JSON.stringify several times slower: values made only of what it would
  // pass through unchanged are written without one (and without the check).
  if (isPlainJson(value, 0)) return JSON.stringify(value);
  const { problem, hasBigInt } = scanEncodable(value, 'json', '');
  if (problem) throw new TypeError(problem);
  const text = hasBigInt ? JSON.stringify(value, bigintsAsNumbers) : JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${typeof value} is not serializable`);
  return text;
}

/** Deeper values are left to the checked path (findUnencodable). */
const PLAIN_JSON_MAX_DEPTH = 32;

/**
 * True when the value is made only of what every serializer writes faithfully as it is:
 * strings, booleans, null, finite numbers, valid Dates, and arrays and plain objects of those
 * (undefined as an object property or array element is handled alike by both paths). Anything
 * else — functions, symbols, bigints, non-finite numbers, class instances, objects with toJSON —
 * answers false and takes the checked path.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'undefined':
      return depth > 0;
    case 'object': {
      if (value === null) return true;
      if (value instanceof Date) return !Number.isNaN(value.getTime());
      if (depth >= PLAIN_JSON_MAX_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype !== Object.prototype && prototype !== null) return false;
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/** BigInts are checked (findUnencodable) to be safe integers before this replacer runs. */
function bigintsAsNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

function unwrapKombuTypes(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '__type__' in value && '__value__' in value) {
    const { __type__: type, __value__: inner } = value;
    if (type === 'datetime' && typeof inner === 'string')
      return new Date(inner.endsWith('Z') || /[+-]\d\d:\d\d$/.test(inner) ? inner : `${inner}Z`);
    if (typeof inner === 'string' || typeof inner === 'number') return inner;
  }
  return value;
}

let packrInstance: Packr | undefined;
/** msgpackr is loaded on the first msgpack body: processes that only see JSON never load it. */
function packr(): Packr {
  if (!packrInstance) {
    const { Packr: PackrClass } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    packrInstance = new PackrClass({
      useRecords: false,
      mapsAsObjects: true,
      moreTypes: false,
      int64AsType: 'number',
      variableMapSize: true,
    });
  }
  return packrInstance;
}
/**
 * msgpack as kombu writes it (`application/x-msgpack`, binary). msgpackr's record extension
 * is off: Python's msgpack cannot read it. Maps decode to plain objects. Values msgpack would
 * not write faithfully (class instances, Sets, functions...: see encodable.ts) are refused.
 */
const msgpack: Serializer = {
  name: 'msgpack',
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  encode(value) {
    const problem = isPlainJson(value, 0) ? null : findUnencodable(value, 'msgpack', '');
    if (problem) throw new SerializationError(`cannot encode as msgpack: ${problem}`);
    try {
      return packr().pack(value);
    } catch (error) {
      throw new SerializationError(`cannot encode as msgpack: ${(error as Error).message}`, { cause: error });
    }
  },
  decode(body) {
    try {
      return packr().unpack(body);
    } catch (error) {
      throw new SerializationError(`body is not valid msgpack: ${describeMsgpackFailure(body, error as Error)}`, { cause: error });
    }
  },
};

/**
 * Why a body did not decode. A body that reads as a stream of several complete values (whose
 * first value msgpackr quotes as JSON text) is named as such: a map or array header that counts
 * fewer entries than follow it, as Python's msgpack writes for a dict subclass whose len()
 * differs from its number of keys (Celery 5.2's group; docs/interop.md). kombu refuses these
 * bodies too (ExtraData).
 */
function describeMsgpackFailure(body: Buffer, error: Error): string {
  let values: unknown[] | undefined;
  try {
    values = packr().unpackMultiple(body) as unknown[] | undefined;
  } catch {
    return error.message;
  }
  if (!values || values.length < 2) return error.message;
  return `${values.length} values where one is expected (a map or array header counts fewer entries than follow it)`;
}

const byName = new Map<string, Serializer>([
  ['json', json],
  ['msgpack', msgpack],
]);
const byContentType = new Map<string, Serializer>([
  [json.contentType, json],
  [msgpack.contentType, msgpack],
  ['application/msgpack', msgpack],
  ['application/x-msgpack', msgpack],
]);

export const SERIALIZER_NAMES: readonly string[] = [...byName.keys()];

/** The serializer registered under `name` ('json', 'msgpack'), or undefined. */
export function serializerNamed(name: string): Serializer | undefined {
  return byName.get(name);
}

/** The serializer for a content type (parameters such as `; charset=utf-8` ignored), or undefined. */
export function serializerForContentType(contentType: string): Serializer | undefined {
  // The type exactly as registered (what every Celery client sends) is found without the three
  // strings the normalized lookup makes per message.
  return byContentType.get(contentType) ?? byContentType.get(contentType.split(';')[0].trim().toLowerCase());
}
