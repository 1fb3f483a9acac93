import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../lib/app/config.js';
import { Producer } from '../../lib/app/producer.js';
import { InvalidMessageError } from '../../lib/errors/errors.js';
import { serializerNamed } from '../../lib/protocol/serializers.js';
import { decodeTaskMessage, encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { messageVectors, propertiesOf, type CapturedMessage } from '../support/vectors.js';

const cases = messageVectors();
const ACCEPT = ['json', 'msgpack'];

function bodyOf(message: CapturedMessage): Buffer {
  return Buffer.from(message.body_base64, 'base64');
}

/** A producer that is never asked to publish: only build() is used. */
const producer = new Producer(
  resolveConfig({ broker: 'memory://protocol-spec', backend: null }),
  () => {
    throw new Error('no transport in protocol specs');
  },
  'fe926f47-758b-32c7-9d6f-4f0216c1114d',
);

describe('protocol v2 against Celery 5.2.6 captures', () => {
  for (const [name, captured] of Object.entries(cases)) {
    captured.messages.forEach((message, index) => {
      it(`decodes ${name}[${index}]`, () => {
        const decoded = decodeTaskMessage(bodyOf(message), propertiesOf(message), ACCEPT);
        assert.equal(decoded.headers.id, message.properties.correlation_id);
        assert.equal(decoded.headers.task, message.headers.task);
        assert.deepEqual(decoded.headers.timelimit, message.headers.timelimit);
        assert.equal(decoded.headers.retries, message.headers.retries);
        assert.equal(decoded.headers.eta, message.headers.eta);
        assert.equal(decoded.headers.expires, message.headers.expires);
        assert.equal(decoded.headers.group, message.headers.group);
        assert.equal(decoded.headers.group_index, message.headers.group_index);
        assert.equal(decoded.replyTo, message.properties.reply_to);
        assert.equal(decoded.priority, message.properties.priority);
        const body = message.body_json ?? serializerNamed('msgpack')!.decode(bodyOf(message));
        const [args, kwargs, embed] = body as [unknown[], Record<string, unknown>, Record<string, unknown>];
        assert.deepEqual(decoded.args, args);
        assert.deepEqual(decoded.kwargs, kwargs);
        assert.deepEqual(decoded.embed, embed);
      });

      it(`re-encodes ${name}[${index}] to an equivalent message`, () => {
        const decoded = decodeTaskMessage(bodyOf(message), propertiesOf(message), ACCEPT);
        const h = decoded.headers;
        const rebuilt = producer.build(
          h.task,
          decoded.args,
          decoded.kwargs,
          {
            taskId: h.id,
            ...(h.eta ? { eta: new Date(h.eta) } : {}),
            ...(h.expires ? { expires: new Date(h.expires) } : {}),
            ...(message.properties.priority ? { priority: message.properties.priority } : {}),
          },
          {},
          { group: h.group, groupIndex: h.group_index, rootId: h.root_id, parentId: h.parent_id, ...decoded.embed },
        );
        rebuilt.headers.timelimit = h.timelimit;
        const serializer = message.properties.content_type === 'application/json' ? 'json' : 'msgpack';
        const out = encodeTaskMessage(rebuilt, serializer);
        // Same header names, same AMQP properties, same body.
        assert.deepEqual(Object.keys(out.headers).sort(), Object.keys(message.headers).sort());
        for (const key of [
          'task',
          'id',
          'group',
          'group_index',
          'retries',
          'timelimit',
          'root_id',
          'parent_id',
          'shadow',
          'ignore_result',
        ]) {
          assert.deepEqual(out.headers[key], message.headers[key], `header ${key}`);
        }
        for (const key of ['eta', 'expires'] as const) {
          const want = message.headers[key] as string | null;
          assert.equal(
            out.headers[key] === null ? null : Date.parse(out.headers[key] as string),
            want === null ? null : Math.floor(Date.parse(want)),
            `header ${key}`,
          );
        }
        assert.equal(out.contentType, message.properties.content_type);
        assert.equal(out.contentEncoding, message.properties.content_encoding);
        assert.equal(out.correlationId, message.properties.correlation_id);
        assert.equal(out.replyTo, message.properties.reply_to);
        assert.equal(out.priority, message.properties.priority);
        assert.equal(out.persistent, true);
        if (serializer === 'json') {
          assert.deepEqual(JSON.parse(out.body.toString('utf8')), message.body_json);
        } else {
          assert.ok(out.body.equals(bodyOf(message)), 'msgpack body is byte-identical');
        }
        if (message.properties.expiration) {
          assert.ok(out.expiration !== undefined, 'expiration property is set when expires is');
        }
      });
    });
  }
});

describe('decodeTaskMessage refuses what it cannot run', () => {
  const good = cases.simple_delay.messages[0];
  const reasonOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof InvalidMessageError, `expected InvalidMessageError, got ${String(error)}`);
      return error.reason;
    }
    assert.fail('expected decode to throw');
  };

  it('an undecodable JSON body', () => {
    assert.equal(
      reasonOf(() => decodeTaskMessage(Buffer.from('[[2, 3], {'), propertiesOf(good), ACCEPT)),
      'decode',
    );
  });
  it('an undecodable msgpack body', () => {
    const props = { ...propertiesOf(good), contentType: 'application/x-msgpack', contentEncoding: 'binary' };
    assert.equal(
      reasonOf(() => decodeTaskMessage(Buffer.from([0x93, 0x92, 0x04]), props, ACCEPT)),
      'decode',
    );
  });
  it('a content type it does not know', () => {
    const props = { ...propertiesOf(good), contentType: 'application/x-python-serialize' };
    assert.equal(
      reasonOf(() => decodeTaskMessage(bodyOf(good), props, ACCEPT)),
      'content-type',
    );
  });
  it('a content type outside the accept list', () => {
    assert.equal(
      reasonOf(() => decodeTaskMessage(bodyOf(good), propertiesOf(good), ['msgpack'])),
      'content-type',
    );
  });
  it('a message without the task header (protocol v1 or foreign)', () => {
    const props = { ...propertiesOf(good), headers: { id: 'x' } };
    assert.equal(
      reasonOf(() => decodeTaskMessage(bodyOf(good), props, ACCEPT)),
      'headers',
    );
  });
  it('a body that is not [args, kwargs, embed]', () => {
    for (const body of ['{"args": [1]}', '[[1], {}]', '[1, {}, {}]', '[[1], [], {}]', '[[1], {}, {"chain": 5}]']) {
      assert.equal(
        reasonOf(() => decodeTaskMessage(Buffer.from(body), propertiesOf(good), ACCEPT)),
        'body-shape',
        body,
      );
    }
  });
  it('accepts a null embed as Celery did before 4.x callbacks existed', () => {
    const decoded = decodeTaskMessage(Buffer.from('[[1, 2], {}, null]'), propertiesOf(good), ACCEPT);
    assert.deepEqual(decoded.embed, { callbacks: null, errbacks: null, chain: null, chord: null });
  });
});

describe('serializers', () => {
  it('JSON unwraps kombu type wrappers and refuses values JSON would silently drop', () => {
    const json = serializerNamed('json')!;
    const decoded = json.decode(Buffer.from('{"d": {"__type__": "datetime", "__value__": "2026-01-02T03:04:05"}}')) as { d: Date };
    assert.ok(decoded.d instanceof Date);
    assert.equal(decoded.d.toISOString(), '2026-01-02T03:04:05.000Z');
    assert.throws(() => json.encode({ f: () => 1 }), /a function at f cannot be written as JSON/);
    assert.throws(() => json.encode([Number.NaN]), /NaN at \[0\] cannot be written as JSON/);
  });
  it('JSON encodes every value as it did with the checking replacer, fast path or not', () => {
    const json = serializerNamed('json')!;
    class Point {
      constructor(readonly x: number) {}
      toJSON() {
        return { x: this.x };
      }
    }
    const cases: unknown[] = [
      [[1, 'a', true, null], {}, { callbacks: null, chain: null }],
      { nested: { deep: [1, { x: [2, 3] }] }, skipped: undefined },
      [undefined, 1],
      new Date('2026-01-02T03:04:05Z'),
      { when: new Date(0), big: 12n, negative: -(2n ** 53n - 1n) },
      [new Point(3)],
      { toJSON: () => 'custom' },
      Object.assign(Object.create(null) as object, { a: 1 }),
      Array.from({ length: 3 }).reduce<unknown>((inner) => [inner], 1),
      Array.from({ length: 40 }).reduce<unknown>((inner) => ({ inner }), 'bottom'),
    ];
    const viaReplacer = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
    for (const value of cases) assert.equal(json.encode(value).toString(), viaReplacer(value));
    for (const bad of [[Number.POSITIVE_INFINITY], { nested: { f: () => 1 } }, [Symbol('s')], { deep: [[Number.NaN]] }]) {
      assert.throws(() => json.encode(bad), /cannot be written as JSON/);
    }
    assert.throws(() => json.encode(undefined), /undefined at the top level cannot be written as JSON/);
  });
  it('msgpack round-trips nested values without the record extension', () => {
    const msgpack = serializerNamed('msgpack')!;
    const value = [[1, 2.5, null, true, 'x'], { nested: { list: [1, 2] } }, { chain: null }];
    const encoded = msgpack.encode(value);
    assert.deepEqual(msgpack.decode(encoded), value);
    // A plain map (fixmap 0x81), not msgpackr's record extension, which Python cannot read.
    assert.deepEqual([...msgpack.encode({ a: 1 })], [0x81, 0xa1, 0x61, 0x01]);
  });
});

describe('delivery mode (AMQP delivery_mode 2 persistent, 1 transient)', () => {
  const transientApp = new Producer(
    resolveConfig({ broker: 'memory://protocol-spec', backend: null, taskDeliveryMode: 'transient' }),
    () => {
      throw new Error('no transport in protocol specs');
    },
    'fe926f47-758b-32c7-9d6f-4f0216c1114d',
  );
  const encoded = (from: Producer, options: Parameters<Producer['build']>[3]) =>
    encodeTaskMessage(from.build('tasks.add', [1, 2], {}, options), 'json');

  it('is persistent unless the app or the call says transient; the call wins', () => {
    assert.equal(encoded(producer, {}).persistent, true);
    assert.equal(encoded(producer, { deliveryMode: 'transient' }).persistent, false);
    assert.equal(encoded(transientApp, {}).persistent, false);
    assert.equal(encoded(transientApp, { deliveryMode: 'persistent' }).persistent, true);
  });

  it('refuses anything else, naming the option', () => {
    assert.throws(() => encoded(producer, { deliveryMode: 2 as never }), /deliveryMode: expected 'persistent' or 'transient', got 2/);
    assert.throws(
      () => resolveConfig({ taskDeliveryMode: 'durable' as never }),
      /taskDeliveryMode: expected 'persistent' or 'transient', got "durable"/,
    );
  });
});
