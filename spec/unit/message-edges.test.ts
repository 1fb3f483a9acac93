import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../lib/app/config.js';
import { Producer } from '../../lib/app/producer.js';
import type { MessageProperties } from '../../lib/broker/transport.js';
import { InvalidMessageError, SerializationError } from '../../lib/errors/errors.js';
import { encodeMeta } from '../../lib/backends/celery-meta.js';
import { errorToExceptionInfo, tracebackOf } from '../../lib/protocol/exception-info.js';
import { boundedHeaders, MAX_STRING_HEADER_CHARS } from '../../lib/protocol/header-bounds.js';
import { serializerNamed } from '../../lib/protocol/serializers.js';
import { decodeTaskMessage, encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_REPR_CHARS, MAX_TRACEBACK_CHARS, truncateText } from '../../lib/util/truncate.js';
import { placeKeywordArguments } from '../../lib/worker/executor.js';
import { DEAD_LETTER_HEADERS, deadLetter } from '../../lib/worker/dead-letter.js';
import type { Delivery, OutgoingMessage, Transport } from '../../lib/broker/transport.js';

const ACCEPT = ['json', 'msgpack'];
const ID = '5b7ee3b4-7a08-4f4d-9a4c-7c2a3c8f0a11';
const BODY = Buffer.from('[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');

function properties(headers: Record<string, unknown> = {}, contentType = 'application/json'): MessageProperties {
  return {
    contentType,
    contentEncoding: 'utf-8',
    correlationId: ID,
    headers: { lang: 'py', task: 'tasks.add', id: ID, retries: 0, timelimit: [null, null], root_id: ID, ...headers },
  };
}

/** The InvalidMessageError a decode throws (fails the test when it does not throw one). */
function refusal(body: Buffer, props: MessageProperties, options?: Parameters<typeof decodeTaskMessage>[3]): InvalidMessageError {
  try {
    decodeTaskMessage(body, props, ACCEPT, options);
  } catch (error) {
    assert.ok(error instanceof InvalidMessageError, `expected InvalidMessageError, got ${String(error)}`);
    return error;
  }
  assert.fail('the message was accepted');
}

describe('eta and expires headers', () => {
  it('accepts ISO 8601 as Celery 5.2 sends it and kombu’s datetime wrapper', () => {
    const iso = decodeTaskMessage(
      BODY,
      properties({ eta: '2026-11-26T21:32:10.864618+00:00', expires: '2026-11-26T21:33:00.864618+00:00' }),
      ACCEPT,
    );
    assert.equal(iso.headers.eta, '2026-11-26T21:32:10.864618+00:00');
    assert.equal(iso.headers.expires, '2026-11-26T21:33:00.864618+00:00');
    const wrapped = decodeTaskMessage(
      BODY,
      properties({
        eta: { __type__: 'datetime', __value__: '2026-11-26T21:32:10.864618' },
        expires: { __type__: 'datetime', __value__: '2026-11-26T21:33:00+01:00' },
      }),
      ACCEPT,
    );
    assert.equal(Date.parse(wrapped.headers.eta!), Date.parse('2026-11-26T21:32:10.864Z'), 'a zone-less wrapped datetime is UTC');
    assert.equal(wrapped.headers.expires, '2026-11-26T21:33:00+01:00');
    assert.equal(decodeTaskMessage(BODY, properties({ eta: null, expires: undefined }), ACCEPT).headers.eta, null);
    assert.equal(
      decodeTaskMessage(BODY, properties({ eta: Buffer.from('2026-11-26T21:32:10Z') }), ACCEPT).headers.eta,
      '2026-11-26T21:32:10Z',
    );
  });

  for (const [header, value] of [
    ['eta', 'tomorrow'],
    ['eta', '2026-13-45T00:00:00'],
    ['eta', '1'],
    ['eta', 1795728725],
    ['expires', 'soon'],
    ['expires', { __type__: 'datetime', __value__: 'never' }],
    ['expires', { __type__: 'date', __value__: '2026-11-26' }],
    ['expires', true],
  ] as const) {
    it(`refuses ${header} ${JSON.stringify(value)} (reason 'headers', naming the header)`, () => {
      const error = refusal(BODY, properties({ [header]: value }));
      assert.equal(error.reason, 'headers');
      assert.match(error.message, new RegExp(`header "${header}" must be an ISO 8601 date-time`));
    });
  }
});

describe('compressed bodies (kombu’s compression header)', () => {
  const decode = (body: Buffer, compression: unknown, options?: Parameters<typeof decodeTaskMessage>[3]) =>
    decodeTaskMessage(body, properties({ compression }), ACCEPT, options);

  it('inflates zlib as kombu names it (application/x-gzip, or an alias), real gzip and brotli', () => {
    for (const [compression, body] of [
      ['application/x-gzip', deflateSync(BODY)],
      ['zlib', deflateSync(BODY)],
      ['gzip', deflateSync(BODY)],
      ['application/x-gzip', gzipSync(BODY)],
      ['application/x-brotli', brotliCompressSync(BODY)],
      ['brotli', brotliCompressSync(BODY)],
    ] as const) {
      assert.deepEqual(decode(body, compression).args, [2, 3], compression);
    }
    const msgpack = serializerNamed('msgpack')!.encode([[7], {}, {}]);
    assert.deepEqual(
      decodeTaskMessage(deflateSync(msgpack), properties({ compression: 'application/x-gzip' }, 'application/x-msgpack'), ACCEPT).args,
      [7],
    );
  });

  it("refuses methods Node cannot decompress with reason 'compression', naming them", () => {
    for (const compression of ['application/x-bz2', 'bzip2', 'application/x-lzma', 'xz', 'application/x-snappy']) {
      const error = refusal(Buffer.from('BZh91AY&SY'), properties({ compression }));
      assert.equal(error.reason, 'compression', compression);
      assert.match(error.message, new RegExp(`compression "${compression}" not supported`));
    }
    assert.equal(refusal(BODY, properties({ compression: 42 })).reason, 'compression');
  });

  it("bounds what a body may inflate to ('too-large'), and refuses a corrupt stream ('decode')", () => {
    // 64 MiB of zeros compress to about 64 KiB: a bomb for a limit of 1 MiB.
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024));
    assert.ok(bomb.length < 128 * 1024);
    const error = refusal(bomb, properties({ compression: 'application/x-gzip' }), { maxBodyBytes: 1024 * 1024 });
    assert.equal(error.reason, 'too-large');
    assert.match(error.message, /inflates to more than 1048576 bytes/);
    assert.equal(refusal(Buffer.from('not zlib at all'), properties({ compression: 'application/x-gzip' })).reason, 'decode');
    // Without a bound given, the default (the worker's default maxMessageSize, 64 MiB) applies.
    assert.equal(refusal(deflateSync(Buffer.alloc(65 * 1024 * 1024)), properties({ compression: 'zlib' })).reason, 'too-large');
  });
});

describe('values a serializer cannot write faithfully', () => {
  const producer = new Producer(
    resolveConfig({ broker: 'memory://edges-spec', backend: null }),
    () => {
      throw new Error('no transport in this spec');
    },
    'fe926f47-758b-32c7-9d6f-4f0216c1114d',
  );

  it('a Map result is refused (not stored as {}), naming the type and its path', () => {
    const meta = {
      status: 'SUCCESS' as const,
      result: { totals: new Map([['a', 1]]) },
      traceback: null,
      children: [],
      date_done: null,
      task_id: ID,
    };
    assert.throws(
      () => encodeMeta(meta),
      (error: unknown) => {
        assert.ok(error instanceof SerializationError);
        assert.match(error.message, /a Map at result\.totals cannot be written as JSON \(convert it with Object\.fromEntries\(map\)\)/);
        return true;
      },
    );
  });

  it('JSON refuses Set, Error, class instances without toJSON, unsafe BigInts, circular values; keeps toJSON and Dates', () => {
    const json = serializerNamed('json')!;
    class Account {
      constructor(readonly id: number) {}
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const [value, pattern] of [
      [{ tags: new Set(['a']) }, /a Set at tags/],
      [[1, new Error('x')], /an Error at \[1\]/],
      [{ owner: new Account(1) }, /an Account at owner .*toJSON/],
      [{ n: 2n ** 70n }, /a BigInt beyond ±\(2\^53−1\) at n/],
      [circular, /a circular reference at self/],
      [{ 'odd key': [Symbol('s')] }, /a symbol at \["odd key"\]\[0\]/],
      [new Map(), /a Map at the top level/],
    ] as const) {
      assert.throws(
        () => json.encode(value),
        (error: unknown) => error instanceof SerializationError && pattern.test(error.message),
        String(pattern),
      );
    }
    assert.equal(
      json.encode({ at: new Date(0), url: new URL('http://x/'), n: 5n }).toString(),
      '{"at":"1970-01-01T00:00:00.000Z","url":"http://x/","n":5}',
    );
  });

  it('msgpack writes Maps as maps but refuses Sets and class instances', () => {
    const msgpack = serializerNamed('msgpack')!;
    assert.deepEqual(msgpack.decode(msgpack.encode({ m: new Map([['a', 1]]) })), { m: { a: 1 } });
    assert.throws(() => msgpack.encode({ s: new Set([1]) }), /a Set at s cannot be written as msgpack/);
    assert.throws(() => msgpack.encode([new (class Thing {})()]), /a Thing at \[0\] cannot be written as msgpack/);
  });

  it('arguments are checked when the message is built, named from args/kwargs', () => {
    const send = (args: unknown[], kwargs: Record<string, unknown>, serializer = 'json') =>
      encodeTaskMessage(producer.build('tasks.add', args, kwargs, {}), serializer);
    assert.throws(
      () => send([1, { seen: new Set([1]) }], {}),
      /arguments of task tasks\.add cannot be sent: a Set at args\[1\]\.seen cannot be written as JSON/,
    );
    assert.throws(() => send([], { lookup: new Map() }), /a Map at kwargs\.lookup cannot be written as JSON/);
    assert.throws(() => send([new Error('x')], {}, 'msgpack'), /an Error at args\[0\] cannot be written as msgpack/);
  });
});

describe('text from input is bounded in results, logs and headers', () => {
  it('truncateText keeps the start and says how much was cut', () => {
    assert.equal(truncateText('short', 10), 'short');
    const cut = truncateText('x'.repeat(10_000), 100);
    assert.ok(cut.length <= 100);
    assert.match(cut, /^x+… \[\d+ more characters truncated\]$/);
    assert.equal(Number(/\[(\d+) more/.exec(cut)![1]) + cut.indexOf('…'), 10_000);
    assert.ok(!/[\ud800-\udbff]…/.test(truncateText('😀'.repeat(100), 50)), 'no lone surrogate before the marker');
  });

  it('an error that lists 10,000 kwarg names stays small in the result', () => {
    const kwargs = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`argument_number_${i}`, i]));
    let thrown: unknown;
    try {
      placeKeywordArguments({ name: 'tasks.add', options: {} }, [], kwargs);
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof TypeError);
    assert.ok(thrown.message.length < 1000, `message of ${thrown.message.length} chars`);
    assert.match(thrown.message, /argument_number_0, .* and 9980 more\) but declares no argNames/);
  });

  it('exception messages, tracebacks and argsrepr/kwargsrepr are cut to their documented bounds, with a marker', () => {
    const huge = new RangeError('y'.repeat(1_000_000));
    const info = errorToExceptionInfo(huge);
    const message = (info.exc_message as string[])[0];
    assert.ok(message.length <= MAX_ERROR_MESSAGE_CHARS);
    assert.match(message, /more characters truncated\]$/);
    const traceback = tracebackOf(huge)!;
    assert.ok(traceback.length <= MAX_TRACEBACK_CHARS);
    assert.match(traceback, /more characters truncated\]$/);
    assert.ok(String((errorToExceptionInfo('z'.repeat(100_000)).exc_message as string[])[0]).length <= MAX_ERROR_MESSAGE_CHARS);

    const decoded = decodeTaskMessage(
      BODY,
      properties({ argsrepr: `(${'1, '.repeat(100_000)})`, kwargsrepr: `{${"'k': 1, ".repeat(100_000)}}` }),
      ACCEPT,
    );
    assert.ok(decoded.headers.argsrepr.length <= MAX_REPR_CHARS);
    assert.ok(decoded.headers.kwargsrepr.length <= MAX_REPR_CHARS);
    assert.match(decoded.headers.kwargsrepr, /truncated\]$/);
  });

  it('a refused header value is quoted short in the dead-letter reason', () => {
    const error = refusal(BODY, properties({ eta: 'x'.repeat(200_000) }));
    assert.ok(error.message.length < 300, `reason of ${error.message.length} chars`);
  });
});

describe('headers of a message published again', () => {
  it('are cut so amqplib can encode them, and left alone (same object) when small', () => {
    const small = { task: 'tasks.add', argsrepr: '(1, 2)', timelimit: [null, null] };
    assert.equal(boundedHeaders(small), small);
    const big = {
      task: 'tasks.add',
      argsrepr: 'a'.repeat(100_000),
      kwargsrepr: Buffer.from('k'.repeat(100_000)),
      note: 'n'.repeat(100_000),
      nested: { keep: 1 },
    };
    const bounded = boundedHeaders(big);
    assert.notEqual(bounded, big);
    assert.equal(big.argsrepr.length, 100_000, 'the original is not changed');
    assert.ok(String(bounded.argsrepr).length <= MAX_REPR_CHARS);
    assert.ok(String(bounded.kwargsrepr).length <= MAX_REPR_CHARS);
    assert.ok(String(bounded.note).length <= MAX_STRING_HEADER_CHARS);
    assert.match(String(bounded.note), /truncated\]$/);
    assert.deepEqual(bounded.nested, { keep: 1 });
    assert.ok(Buffer.byteLength(JSON.stringify(bounded)) < 32 * 1024);
  });

  it('bound a table or array header too, so amqplib can encode every copy (retry, deferral, dead letter)', () => {
    // amqplib's own table encoder (not in its package exports: loaded by path).
    const require = createRequire(import.meta.url);
    const { encodeTable } = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
      encodeTable: (buffer: Buffer, value: unknown, offset: number) => number;
    };
    const encodes = (headers: Record<string, unknown>): boolean => {
      try {
        encodeTable(Buffer.alloc(64 * 1024), headers, 0);
        return true;
      } catch (error) {
        assert.ok(error instanceof RangeError, String(error));
        return false;
      }
    };
    const strings = { task: 'tasks.add', timelimit: [null, null], notes: Array.from({ length: 100 }, () => 'n'.repeat(1000)) };
    const numbers = { task: 'tasks.add', table: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) };
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    for (const headers of [strings, numbers, { task: 'tasks.add', deep }]) {
      assert.equal(encodes(headers), false, 'the spec needs headers amqplib refuses');
      const bounded = boundedHeaders(headers);
      assert.ok(encodes(bounded), 'bounded headers encode');
      assert.deepEqual(bounded.task, 'tasks.add');
    }
    assert.match(String(boundedHeaders(strings).notes), /^\["nnn.*truncated\]$/);
    assert.deepEqual(boundedHeaders(strings).timelimit, [null, null]);
  });

  it('a dead-letter copy whose headers amqplib refuses keeps them cut to their bounds, not only id and task', async () => {
    const require = createRequire(import.meta.url);
    const { encodeTable } = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
      encodeTable: (buffer: Buffer, value: unknown, offset: number) => number;
    };
    const published: OutgoingMessage[] = [];
    const transport = {
      declareQueue: async () => {},
      publish: async (message: OutgoingMessage) => {
        encodeTable(Buffer.alloc(64 * 1024), message.headers ?? {}, 0); // throws RangeError as amqplib does
        published.push(message);
      },
    } as unknown as Transport;
    let settled = '';
    const headers = { ...properties().headers, root_id: ID, retries: 2, notes: Array.from({ length: 100 }, () => 'n'.repeat(1000)) };
    const delivery = {
      body: BODY,
      properties: { ...properties(), headers },
      exchange: '',
      routingKey: 'spec.dl',
      queue: `spec.dl.${ID}`,
      redelivered: false,
      ack: () => ((settled = 'ack'), true),
      reject: () => ((settled = 'reject'), true),
    } as Delivery;
    assert.equal(await deadLetter(transport, delivery, 'decode', 'spec'), true);
    assert.equal(settled, 'ack');
    const [copy] = published;
    assert.equal(copy.headers[DEAD_LETTER_HEADERS.reason], 'decode');
    assert.equal(copy.headers.retries, 2, 'headers within their bounds are kept');
    assert.equal(copy.headers.root_id, ID);
    assert.match(String(copy.headers.notes), /truncated\]$/);
  });
});
