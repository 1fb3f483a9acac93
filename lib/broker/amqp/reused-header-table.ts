/**
 * The headers object handed to amqplib for a publish, one per publisher, refilled per publish.
 *
 * amqplib 2.3 encodes a publish's headers through `Object.create(options.headers)`: the object
 * it is given becomes a prototype, and every key is then read through the prototype chain. For
 * a fresh object per message that costs V8 a prototype conversion per publish (measured:
 * amqplib's encode of a Celery message's 16 headers took 4.5 × as long with a fresh headers
 * object as with one it had seen before, docs/amqplib-table-codec.md), and the retained headers
 * of every unconfirmed publish keep a prototype map of their own (~400 bytes each).
 *
 * So amqplib is given this table instead: the same keys in the same order with the same
 * values, hence the same bytes on the wire. While messages keep one key sequence (every task
 * message of a producer does) the object stays the one amqplib has already made a prototype;
 * another sequence starts a new table. Safe to reuse because amqplib encodes synchronously
 * inside `publish`, before it returns; the values of the last publish are kept until the next.
 */
import type { Options } from 'amqplib';

/** The table of every publish without headers (never written to). */
const EMPTY_TABLE: Record<string, unknown> = Object.freeze({});

export class ReusedHeaderTable {
  #table: Record<string, unknown> = {};
  #keys: string[] = [];

  /** `options` as amqplib is to be given them for one synchronous publish (the headers as fill's). */
  optionsFor(options: Options.Publish): Options.Publish {
    return options.headers ? { ...options, headers: this.fill(options.headers as Record<string, unknown>) } : options;
  }

  /** A table equal to `headers` (keys, order, values) for one synchronous publish. */
  fill(headers: Record<string, unknown>): Record<string, unknown> {
    const table = this.#table;
    const keys = this.#keys;
    let count = 0;
    // for...in, as amqplib's encodeTable walks a table.
    for (const key in headers) {
      // Assigned, this key would set the table's prototype: such headers are given as they are.
      if (key === '__proto__') return headers;
      if (count >= keys.length || keys[count] !== key) return this.#replace(headers);
      table[key] = headers[key];
      count++;
    }
    // Empty headers (rpc:// results, say) get a shared empty table: a worker that sends both
    // keeps its task messages' table.
    if (count === 0) return EMPTY_TABLE;
    return count === keys.length ? table : this.#replace(headers);
  }

  #replace(headers: Record<string, unknown>): Record<string, unknown> {
    const table: Record<string, unknown> = {};
    const keys: string[] = [];
    for (const key in headers) {
      if (key === '__proto__') return headers;
      table[key] = headers[key];
      keys.push(key);
    }
    this.#table = table;
    this.#keys = keys;
    return table;
  }
}
