import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { ReusedHeaderTable } from '../../lib/broker/amqp/reused-header-table.js';

// amqplib's own table encoder (not exported by the package: loaded by its file path).
const require = createRequire(import.meta.url);
const codec = require(`${dirname(require.resolve('amqplib'))}/lib/codec.js`) as {
  encodeTable(buffer: Buffer, table: object, offset: number): number;
};

/** The bytes amqplib writes for a header table as a publish hands it over (Object.create of it). */
function encoded(headers: Record<string, unknown>): Buffer {
  const buffer = Buffer.alloc(4096);
  return Buffer.from(buffer.subarray(0, codec.encodeTable(buffer, Object.create(headers) as object, 0)));
}

const celeryHeaders = (id: string, retries: number): Record<string, unknown> => ({
  lang: 'js',
  task: 'tasks.add',
  id,
  shadow: null,
  eta: null,
  expires: '2026-12-03T21:00:00.000Z',
  group: null,
  group_index: null,
  retries,
  timelimit: [null, { '!': 'int', value: 300 }],
  root_id: id,
  parent_id: null,
  argsrepr: '[1, 2]',
  kwargsrepr: '{}',
  origin: '1@host',
  ignore_result: false,
  skipped: undefined,
});

describe('ReusedHeaderTable', () => {
  it('gives amqplib the same bytes as the headers themselves, reusing one object while the keys stay the same', () => {
    const table = new ReusedHeaderTable();
    const first = celeryHeaders('a', 0);
    const filled = table.fill(first);
    assert.notEqual(filled, first);
    assert.deepEqual(encoded(filled), encoded(first));
    const second = celeryHeaders('b', 3);
    assert.equal(table.fill(second), filled, 'the same key sequence refills the same object');
    assert.deepEqual(encoded(filled), encoded(second));
    assert.equal(filled.id, 'b');
  });

  it('starts a new table when the keys or their order change, never keeping a key of an earlier publish', () => {
    const table = new ReusedHeaderTable();
    const first = table.fill({ a: 1, b: 2, c: 3 });
    const fewer = table.fill({ a: 1, b: 2 });
    assert.notEqual(fewer, first);
    assert.deepEqual(Object.keys(fewer), ['a', 'b']);
    const reordered = table.fill({ b: 2, a: 1 });
    assert.deepEqual(Object.keys(reordered), ['b', 'a']);
    assert.deepEqual(encoded(reordered), encoded({ b: 2, a: 1 }));
    const more = table.fill({ b: 2, a: 1, x: 'stamp' });
    assert.deepEqual(encoded(more), encoded({ b: 2, a: 1, x: 'stamp' }));
  });

  it('keeps its table across publishes without headers', () => {
    const table = new ReusedHeaderTable();
    const filled = table.fill(celeryHeaders('a', 0));
    const empty = table.fill({});
    assert.deepEqual(encoded(empty), encoded({}));
    assert.equal(table.fill(celeryHeaders('b', 1)), filled);
  });

  it('hands over headers with an own __proto__ key as they are (assigning it would set a prototype)', () => {
    const headers = JSON.parse('{"a": 1, "__proto__": "x"}') as Record<string, unknown>;
    assert.equal(new ReusedHeaderTable().fill(headers), headers);
  });

  it('leaves options without headers alone and never changes the options it is given', () => {
    const table = new ReusedHeaderTable();
    const bare = { persistent: true };
    assert.equal(table.optionsFor(bare), bare);
    const headers = { a: 1 };
    const options = { persistent: true, headers };
    const given = table.optionsFor(options);
    assert.equal(options.headers, headers);
    assert.deepEqual(given, { persistent: true, headers: { a: 1 } });
    assert.notEqual(given.headers, headers);
  });
});
