import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { InvalidMessageError } from '../../lib/errors/errors.js';
import { decodeTaskMessage } from '../../lib/protocol/task-message.js';
import { propertiesOf, type CapturedMessage } from '../support/vectors.js';

/**
 * A chain with a chord inside it, sent by Python Celery 5.2.6 with task_serializer='msgpack'
 * (captured verbatim: spec/fixtures/celery-5.2.6-msgpack-group-in-chain.json). Python's msgpack
 * writes a dict subclass with a map header of len(obj) entries, then every item; Celery 5.2's
 * group defines __len__ as its number of tasks. The chord's header group (six keys, two tasks) in
 * the chain embed is therefore written as a map of 2 entries followed by 6 pairs, and the body is
 * a stream of several msgpack values. Celery's own worker refuses it (kombu DecodeError,
 * ExtraData); celeriac refuses it too, with reason `decode`.
 */
const fixture = JSON.parse(
  readFileSync(new URL('../../../spec/fixtures/celery-5.2.6-msgpack-group-in-chain.json', import.meta.url), 'utf8'),
) as { message: CapturedMessage };
const message = fixture.message;
const body = Buffer.from(message.body_base64, 'base64');

describe('a Celery 5.2.6 msgpack chain embedding a chord (captured)', () => {
  it('is labelled msgpack, binary, uncompressed', () => {
    assert.equal(message.properties.content_type, 'application/x-msgpack');
    assert.equal(message.properties.content_encoding, 'binary');
    assert.equal(message.headers.compression, undefined);
    assert.equal(body[0], 0x93, 'a msgpack array of 3, not JSON text');
  });

  it("writes the chord's header group as a map of len(group.tasks) entries", () => {
    const header = body.indexOf(Buffer.from('\xa6header\x82\xa4task\xaccelery.group', 'latin1'));
    assert.ok(header > 0, 'header: fixmap of 2 entries, then task: celery.group');
    const { unpackMultiple } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    const values = unpackMultiple(body) as unknown[];
    assert.equal(values.length, 9, 'the body reads as 9 values: the 3-element message, then the 4 pairs left over');
    assert.deepEqual(values.slice(1), [
      'options',
      { task_id: '0e07edbe-5738-4804-a8be-597f3cb7e5ff' },
      'subtask_type',
      'chord',
      'immutable',
      false,
      'chord',
      null,
    ]);
  });

  it('is dead-lettered with reason decode, naming the extra values', () => {
    assert.throws(
      () => decodeTaskMessage(body, propertiesOf(message), ['json', 'msgpack']),
      (error: unknown) =>
        error instanceof InvalidMessageError && error.reason === 'decode' && /9 values where one is expected/.test(error.message),
    );
  });
});
