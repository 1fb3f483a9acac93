import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAmqpTransport } from '../../lib/broker/amqp/transport.js';
import { queueArguments } from '../../lib/broker/amqp/queue-arguments.js';
import { splitBrokerHeaders } from '../../lib/broker/amqp/broker-headers.js';
import { reasonOf, refusedExchangeOf, toTransportError } from '../../lib/broker/amqp/channel-errors.js';
import { isTransientBrokerFault } from '../../lib/broker/transport-faults.js';
import { portableHeaders } from '../../lib/broker/amqp/header-values.js';
import { PUBLISH_SEQ_HEADER, returnKeyOf, toPublishOptions } from '../../lib/broker/amqp/properties.js';
import { ConfigError, PublishError, TransportError } from '../../lib/errors/errors.js';
import { silentLogger } from '../../lib/log/logger.js';

/** The AMQP adapter's own mappings (intents → x- arguments, broker headers → Delivery fields, reply codes → reasons), without a broker. */
describe('amqp adapter mappings', () => {
  it('maps every queue intent to its RabbitMQ argument, and a plain queue to none', () => {
    assert.equal(queueArguments({ name: 'plain', durable: true }), undefined);
    assert.deepEqual(queueArguments({ name: 'q', type: 'quorum', deliveryLimit: 3, deadLetterTo: { queue: 'q.dead-letter' } }), {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 3,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'q.dead-letter',
    });
    assert.deepEqual(
      queueArguments({ name: 'c', type: 'classic', maxPriority: 10, messageTtl: 5000, expires: 60_000, deadLetterTo: { exchange: 'dlx' } }),
      {
        'x-max-priority': 10,
        'x-message-ttl': 5000,
        'x-expires': 60_000,
        'x-dead-letter-exchange': 'dlx',
      },
    );
    assert.deepEqual(queueArguments({ name: 'k', deadLetterTo: { exchange: 'dlx', routingKey: 'dead' } }), {
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
    });
  });

  it("reads RabbitMQ's death trace into a record (newest death first, amqplib's timestamp shape) and drops it from the headers", () => {
    const headers = {
      id: 't1',
      'x-death': [
        {
          count: 1,
          reason: 'delivery_limit',
          queue: 'work',
          exchange: '',
          'routing-keys': ['work'],
          time: { '!': 'timestamp', value: 1_700_000_000 },
        },
        {
          count: 2,
          reason: Buffer.from('expired'),
          queue: 'celeriac.delayed.0.3',
          exchange: 'celeriac.delayed.0',
          'routing-keys': ['k'],
          time: 1_699_999_999,
        },
      ],
      'x-first-death-reason': 'expired',
      'x-first-death-queue': 'celeriac.delayed.0.3',
      'x-first-death-exchange': 'celeriac.delayed.0',
      'x-delivery-count': 4,
    };
    const split = splitBrokerHeaders(headers, false);
    assert.deepEqual(split.headers, { id: 't1' });
    assert.deepEqual(split.deadLetter, {
      reason: 'delivery_limit',
      queue: 'work',
      exchange: '',
      routingKeys: ['work'],
      time: new Date(1_700_000_000_000),
      count: 3,
    });
    assert.equal(split.deliveryCount, undefined, 'not a quorum queue this transport declared');
    assert.equal(splitBrokerHeaders(headers, true).deliveryCount, 4);
    assert.equal(headers['x-delivery-count'], 4, 'the received headers are not changed');
  });

  it('falls back to the x-first-death trio; leaves headers without broker names untouched; ignores an unknown reason', () => {
    const trio = splitBrokerHeaders(
      { a: 1, 'x-first-death-reason': 'rejected', 'x-first-death-queue': 'q', 'x-first-death-exchange': 'ex' },
      false,
    );
    assert.deepEqual(trio, {
      headers: { a: 1 },
      deadLetter: { reason: 'rejected', queue: 'q', exchange: 'ex', routingKeys: [], count: 1 },
    });
    const plain = { id: 'x', 'x-celeriac-dead-letter-reason': 'decode' };
    assert.equal(splitBrokerHeaders(plain, true).headers, plain);
    assert.equal(splitBrokerHeaders({ 'x-first-death-reason': 'bored', 'x-first-death-queue': 'q' }, false).deadLetter, undefined);
    assert.equal(splitBrokerHeaders({ 'x-delivery-count': -1 }, true).deliveryCount, undefined);
  });

  it('maps reply codes to reasons once; transient only for a passing condition', () => {
    const closed = (code: number) => Object.assign(new Error(`Channel closed by server: ${code} (X) with message "TEXT - it"`), { code });
    const expected: [number, string][] = [
      [403, 'access-refused'],
      [404, 'not-found'],
      [405, 'resource-locked'],
      [406, 'precondition-failed'],
      [530, 'not-allowed'],
      [311, 'invalid'],
      [320, 'unavailable'],
      [504, 'unavailable'],
      [506, 'unavailable'],
      [541, 'unavailable'],
    ];
    for (const [code, reason] of expected) {
      const error = toTransportError(closed(code), 'amqp://h');
      assert.ok(error instanceof TransportError, String(code));
      assert.equal(error.reason, reason, String(code));
      assert.equal(error.transient, reason === 'unavailable');
      assert.equal(error.message, 'broker amqp://h: TEXT - it');
      assert.equal(isTransientBrokerFault(closed(code)), reason === 'unavailable');
    }
    const stateError = toTransportError(Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' }), 'amqp://h');
    assert.ok(stateError instanceof TransportError && stateError.reason === 'unavailable');
    const untouched = [
      new RangeError('header table'),
      new PublishError('closed', 'c'),
      Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    ];
    for (const error of untouched) assert.equal(toTransportError(error, 'amqp://h'), error);
    assert.equal(reasonOf(new Error('no code')), undefined);
    assert.equal(isTransientBrokerFault(new Error('no code')), undefined);
  });

  it('finds a refused exchange only in a not-found or access-refused close', () => {
    const error = (code: number, text: string) =>
      Object.assign(new Error(`Channel closed by server: ${code} with message "${text}"`), { code });
    assert.equal(refusedExchangeOf(error(404, "NOT_FOUND - no exchange 'a' in vhost '/'"), ['b', 'a']), 'a');
    assert.equal(
      refusedExchangeOf(error(403, "ACCESS_REFUSED - access to exchange 'b' in vhost '/' refused for user 'u'"), ['a', 'b']),
      'b',
    );
    assert.equal(refusedExchangeOf(error(406, "PRECONDITION_FAILED - exchange 'a' in vhost '/' is odd"), ['a']), undefined);
    assert.equal(
      refusedExchangeOf(error(403, "ACCESS_REFUSED - write access to topic 'k' in exchange 'a' in vhost '/' refused for user 'u'"), ['a']),
      undefined,
      'a routing key refused by topic permissions leaves the exchange standing',
    );
    assert.equal(refusedExchangeOf(error(403, "ACCESS_REFUSED - cannot publish to internal exchange 'a' in vhost '/'"), ['a']), 'a');
    assert.equal(
      refusedExchangeOf(new Error("NOT_FOUND - no exchange 'a' in vhost '/'"), ['a']),
      undefined,
      'no reply code: not a refusal',
    );
  });

  it('refuses a prefetch outside 1..65535 with ConfigError, before any I/O', async () => {
    const transport = createAmqpTransport('amqp://127.0.0.1:1', {
      heartbeatSeconds: 0,
      confirmTimeoutMs: 1000,
      connectMaxRetries: 0,
      connectInitialDelayMs: 1,
      connectMaxDelayMs: 1,
      logger: silentLogger(),
    });
    try {
      for (const prefetch of [0, 65_536, 1.5]) {
        await assert.rejects(
          transport.consume(['q'], { prefetch }, () => undefined),
          (error: unknown) => error instanceof ConfigError && error.option === 'prefetch',
        );
      }
    } finally {
      await transport.close();
    }
  });

  it('types every header integer outside 0..127 as int32, as py-amqp reads it; copies only when something changes', () => {
    const plain = { id: 'x', retries: 0, timelimit: [null, 12], eta: null, ok: true, ratio: 0.5 };
    assert.equal(portableHeaders(plain), plain, 'nothing to type: the same object');
    const headers = { clock: 128, retries: -1, timelimit: [300, 60], nested: { count: 40_000, small: 3 }, big: 2 ** 40 };
    const copy = portableHeaders(headers);
    assert.deepEqual(copy, {
      clock: { '!': 'int', value: 128 },
      retries: { '!': 'int', value: -1 },
      timelimit: [{ '!': 'int', value: 300 }, 60],
      nested: { count: { '!': 'int', value: 40_000 }, small: 3 },
      big: 2 ** 40,
    });
    assert.deepEqual(headers.timelimit, [300, 60], 'the input is left as it was');
    const typed = { at: { '!': 'timestamp', value: 1_700_000_000 } };
    assert.equal(portableHeaders(typed), typed, 'a value typed already is kept');
  });

  it('a publish-sequence stamp past 127 is typed on the wire and still matches its return', () => {
    const options = toPublishOptions(
      { body: Buffer.alloc(0), contentType: 'application/json', contentEncoding: 'utf-8', headers: {} },
      true,
      500,
    );
    assert.deepEqual(options.headers?.[PUBLISH_SEQ_HEADER], { '!': 'int', value: 500 });
    assert.equal(
      returnKeyOf(options),
      returnKeyOf({ headers: { [PUBLISH_SEQ_HEADER]: 500 } }),
      'the returned message carries the plain number',
    );
    assert.equal(returnKeyOf(options), 'seq:500');
  });
});
