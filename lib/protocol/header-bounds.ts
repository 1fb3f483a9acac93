import { MAX_DEAD_LETTER_ERROR_CHARS, MAX_REPR_CHARS, truncateText } from '../util/truncate.js';

/**
 * Headers of a message to publish again (dead-letter copy, retry, deferral) cut so that amqplib
 * can encode them: it refuses a header table over 64 KiB with a RangeError, and a copy that
 * cannot be published is requeued — for a dead letter, again and again. A received message
 * may carry more (RabbitMQ takes tables up to its frame size), e.g. an `argsrepr` written by a
 * producer that does not cut it as Celery does.
 *
 * `argsrepr`/`kwargsrepr` are cut to MAX_REPR_CHARS, every other string (or Buffer) value to
 * MAX_STRING_HEADER_CHARS, with the truncation marker. A table or array is kept as it is while
 * its strings, keys and values come to at most MAX_STRING_HEADER_CHARS; a bigger one is
 * replaced by its JSON text, cut likewise, and one nested deeper than MAX_NESTED_HEADER_DEPTH
 * by a text saying so.
 * Returns `headers` itself when nothing is over its bound (the common case: no copy).
 */
export function boundedHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(headers)) {
    const bounded = boundedValue(value, name === 'argsrepr' || name === 'kwargsrepr' ? MAX_REPR_CHARS : MAX_STRING_HEADER_CHARS);
    if (bounded === value) continue;
    out ??= { ...headers };
    out[name] = bounded;
  }
  return out ?? headers;
}

/** A string header other than the reprs is cut past this; a table or array is replaced past it. */
export const MAX_STRING_HEADER_CHARS = MAX_DEAD_LETTER_ERROR_CHARS;
/** A table or array nested deeper than this is replaced by its (cut) text. */
export const MAX_NESTED_HEADER_DEPTH = 32;

function boundedValue(value: unknown, bound: number): unknown {
  const text = textOf(value);
  // Characters, not bytes: 4 bytes each at most in UTF-8, still far below amqplib's limit.
  if (text !== undefined) return text.length > bound ? truncateText(text, bound) : value;
  if (typeof value !== 'object' || value === null) return value;
  const size = sizeOf(value, 0, MAX_STRING_HEADER_CHARS);
  if (size <= MAX_STRING_HEADER_CHARS) return value;
  if (size === Infinity) return NESTED_TOO_DEEP;
  let json: string;
  try {
    // JSON.stringify gives undefined only for undefined, a function or a symbol: their String() is what is measured.
    // oxlint-disable-next-line typescript/no-base-to-string
    json = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  } catch {
    return NESTED_TOO_DEEP; // a value JSON cannot write
  }
  return truncateText(json, MAX_STRING_HEADER_CHARS);
}

/** What replaces a table or array nested deeper than MAX_NESTED_HEADER_DEPTH. */
const NESTED_TOO_DEEP = `[a table or array nested deeper than ${MAX_NESTED_HEADER_DEPTH} levels, removed]`;

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
}

/** About how many characters `value` takes in a header table; stops counting once past `budget`. */
function sizeOf(value: unknown, depth: number, budget: number): number {
  const text = textOf(value);
  if (text !== undefined) return text.length;
  if (typeof value !== 'object' || value === null) return 8;
  if (depth >= MAX_NESTED_HEADER_DEPTH) return Infinity;
  let size = 2;
  if (Array.isArray(value)) {
    for (const item of value) {
      size += 1 + sizeOf(item, depth + 1, budget - size);
      if (size > budget) return size;
    }
    return size;
  }
  for (const [key, item] of Object.entries(value)) {
    size += key.length + 2 + sizeOf(item, depth + 1, budget - size);
    if (size > budget) return size;
  }
  return size;
}
