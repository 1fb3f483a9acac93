import { MAX_DEAD_LETTER_ERROR_CHARS, MAX_REPR_CHARS, truncateText } from '../util/truncate.js';

/**
 * Headers of a message to publish again (dead-letter copy, retry, deferral) cut so that amqplib
 * can encode them: it refuses a header table over 64 KiB with a RangeError, and a copy that
 * cannot be published is requeued — for a dead letter, again and again. A received message
 * may carry more (RabbitMQ takes tables up to its frame size), e.g. an `argsrepr` written by a
 * producer that does not cut it as Celery does.
 *
 * `argsrepr`/`kwargsrepr` are cut to MAX_REPR_CHARS, every other string (or Buffer) value to
 * MAX_STRING_HEADER_CHARS, with the truncation marker; tables and arrays are kept as they are.
 * Returns `headers` itself when nothing is over its bound (the common case: no copy).
 */
export function boundedHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(headers)) {
    const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
    if (text === undefined) continue;
    const bound = name === 'argsrepr' || name === 'kwargsrepr' ? MAX_REPR_CHARS : MAX_STRING_HEADER_CHARS;
    // Characters, not bytes: 4 bytes each at most in UTF-8, still far below amqplib's limit.
    if (text.length <= bound) continue;
    out ??= { ...headers };
    out[name] = truncateText(text, bound);
  }
  return out ?? headers;
}

/** A string header other than the reprs is cut past this. */
export const MAX_STRING_HEADER_CHARS = MAX_DEAD_LETTER_ERROR_CHARS;
