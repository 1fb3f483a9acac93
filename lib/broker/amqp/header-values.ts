/**
 * Header tables that every Celery client reads as they were written.
 *
 * amqplib writes a JS integer in a field table with the narrowest signed tag: 'b' (int8) from
 * -128 to 127, 's' (int16) up to 32767, 'I' (int32), then 'l' (int64), as RabbitMQ's errata of
 * AMQP 0-9-1 name them. py-amqp — the client under kombu, so under every Celery worker, `celery
 * inspect` and Flower — follows the original spec's tags instead: it reads 'b' as unsigned and 's'
 * as a *short string*. A header such as a reply's Lamport `clock` of 128 or more, a `timelimit`
 * of 300 s or a negative number is then misread, and with it the rest of the frame: the reply is
 * lost and the connection it arrived on is out of step from then on.
 *
 * So an integer outside 0..127 and within int32 is written as 'I', the tag py-amqp itself writes
 * for such integers and every client reads alike; 0..127 stay 'b' (read alike too). Larger
 * integers keep amqplib's 'l', which py-amqp reads as unsigned: right for the non-negative ones
 * that occur (a negative integer beyond int32 has no tag both read alike). Arrays and nested
 * tables are handled the same way; a value already typed as `{ '!': type, value }` is kept.
 */

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** amqplib's notation for a field value of a given AMQP type. */
export interface TypedFieldValue {
  '!': string;
  value: unknown;
}

export function isTypedFieldValue(value: unknown): value is TypedFieldValue {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, '!');
}

/**
 * `headers` with every integer that py-amqp would misread typed as int32. The same object when
 * none needs it (the common case: nothing is copied); otherwise a copy, the input untouched.
 */
export function portableHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  // for...in, as amqplib's encodeTable walks a table.
  for (const key in headers) {
    const value = headers[key];
    const portable = portableValue(value);
    if (portable !== value) (copy ??= { ...headers })[key] = portable;
  }
  return copy ?? headers;
}

function portableValue(value: unknown): unknown {
  if (typeof value === 'number') {
    return Number.isInteger(value) && (value < 0 || value > 127) && value >= INT32_MIN && value <= INT32_MAX
      ? { '!': 'int', value }
      : value;
  }
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || isTypedFieldValue(value)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const portable = portableValue(value[i]);
      if (portable !== value[i]) (copy ??= [...value])[i] = portable;
    }
    return copy ?? value;
  }
  return portableHeaders(value as Record<string, unknown>);
}
