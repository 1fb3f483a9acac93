import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { parseBrokerList } from '../../lib/broker/broker-list.js';
import { FailoverRotation } from '../../lib/broker/failover-rotation.js';
import { ConfigError } from '../../lib/errors/errors.js';
import { redactUrl } from '../../lib/util/url.js';

const A = 'amqp://u:pa@10.0.0.1:5672';
const B = 'amqp://u:pb@10.0.0.2:5672';
const C = 'amqps://u:pc@10.0.0.3:5671/vh';

/** A ConfigError naming `broker` whose message matches `pattern` and shows no password. */
function brokerError(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.option, 'broker');
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /:p[abc]@/);
    return true;
  };
}

/** A deterministic stand-in for Math.random: the given values, over and over. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('broker lists', () => {
  it("splits Celery's ;-separated list and arrays of URLs, trimming each entry", () => {
    assert.deepEqual(parseBrokerList(A), [A]);
    assert.deepEqual(parseBrokerList(`${A};${B};${C}`), [A, B, C]);
    assert.deepEqual(parseBrokerList(` ${A} ; ${B}`), [A, B]);
    assert.deepEqual(parseBrokerList([A, B]), [A, B]);
    assert.deepEqual(parseBrokerList([`${A};${B}`, C]), [A, B, C]);
    assert.deepEqual(parseBrokerList('memory://one'), ['memory://one']);
  });

  it('refuses empty entries, non-AMQP entries in a list and non-strings, as a ConfigError naming broker', () => {
    assert.throws(
      () => parseBrokerList(`${A};;${B}`),
      brokerError(/empty entry \(entry 2 of the broker list amqp:\/\/u:\*\*\*@10\.0\.0\.1/),
    );
    assert.throws(() => parseBrokerList(`${A};`), brokerError(/empty entry \(entry 2 of/));
    assert.throws(() => parseBrokerList([A, ' ']), brokerError(/empty entry \(entry 2 of/));
    assert.throws(() => parseBrokerList(''), brokerError(/expected a non-empty string, got ""/));
    assert.throws(() => parseBrokerList([]), brokerError(/non-empty list/));
    assert.throws(
      () => parseBrokerList(`${A};memory://x`),
      brokerError(/only amqp:\/\/ and amqps:\/\/ URLs, got memory:\/\/x \(entry 2 of/),
    );
    assert.throws(() => parseBrokerList(`memory://x;${A}`), brokerError(/got memory:\/\/x \(entry 1 of/));
    assert.throws(() => parseBrokerList(`${A};redis://:pw@h:6379`), brokerError(/got redis:\/\/:\*\*\*@h:6379 \(entry 2/));
    // Without its scheme the next entry is no entry: the ; stands in the host part of the first URL.
    assert.throws(
      () => parseBrokerList(`${A};10.0.0.2:5672`),
      brokerError(/a ';' in the host part of amqp:\/\/u:\*\*\*@10\.0\.0\.1:5672;10\.0\.0\.2:5672/),
    );
    assert.throws(() => parseBrokerList([A, 5]), brokerError(/expected a URL string or a list of them, got 5/));
  });

  it('createApp takes the list as a string, an array or $CELERIAC_BROKER_URL, and keeps it in Celery spelling', async () => {
    const fromString = createApp({ broker: `${A};${B}`, backend: null });
    const fromArray = createApp({ broker: [A, B], backend: null, brokerFailover: 'shuffle' });
    assert.equal(fromString.config.broker, `${A};${B}`);
    assert.equal(fromString.config.brokerFailover, 'round-robin');
    assert.equal(fromArray.config.broker, `${A};${B}`);
    assert.equal(fromArray.config.brokerFailover, 'shuffle');
    assert.equal(fromArray.transport.url, 'amqp://u:***@10.0.0.1:5672;amqp://u:***@10.0.0.2:5672');
    const saved = process.env.CELERIAC_BROKER_URL;
    process.env.CELERIAC_BROKER_URL = `${B};${C}`;
    try {
      assert.equal(createApp({ backend: null }).config.broker, `${B};${C}`);
      process.env.CELERIAC_BROKER_URL = `${B};memory://x`;
      assert.throws(() => createApp({ backend: null }), brokerError(/memory:\/\/x/));
    } finally {
      if (saved === undefined) delete process.env.CELERIAC_BROKER_URL;
      else process.env.CELERIAC_BROKER_URL = saved;
    }
    assert.throws(() => createApp({ broker: `${A};;${B}` }), brokerError(/empty entry/));
    assert.throws(
      () => createApp({ broker: A, brokerFailover: 'random' as never }),
      (error: unknown) =>
        error instanceof ConfigError && error.option === 'brokerFailover' && /'round-robin' or 'shuffle'/.test(error.message),
    );
    await Promise.all([fromString.close(), fromArray.close()]);
  });

  it('redactUrl hides the password of every entry of a list', () => {
    assert.equal(redactUrl(`${A};${B};${C}`), 'amqp://u:***@10.0.0.1:5672;amqp://u:***@10.0.0.2:5672;amqps://u:***@10.0.0.3:5671/vh');
    // Unparseable entries go through the fallback, each on its own.
    assert.equal(redactUrl('amqp://u:p@[bad;amqp://v:q@[bad'), 'amqp://u:***@[bad;amqp://v:***@[bad');
  });
});

describe('failover rotation', () => {
  it('round-robin: list order from the first node, over and over', () => {
    const rotation = new FailoverRotation(['a', 'b', 'c']);
    const seen = [rotation.current];
    for (let i = 0; i < 6; i++) seen.push(rotation.advance());
    assert.deepEqual(seen, ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('round-robin with one node stays on it', () => {
    const rotation = new FailoverRotation(['only']);
    assert.equal(rotation.advance(), 'only');
    assert.equal(rotation.advance(), 'only');
  });

  it('shuffle: each pass visits every node once, never the same node twice in a row', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e'];
    for (let seed = 0; seed < 50; seed++) {
      // A cheap LCG per seed, so each run is a different but repeatable order.
      let state = seed + 1;
      const random = (): number => ((state = (state * 48_271) % 2_147_483_647) / 2_147_483_647) % 1;
      const rotation = new FailoverRotation(nodes, 'shuffle', random);
      const seen = [rotation.current];
      for (let i = 1; i < nodes.length * 8; i++) seen.push(rotation.advance());
      for (let pass = 0; pass < 8; pass++) {
        assert.deepEqual([...seen.slice(pass * nodes.length, (pass + 1) * nodes.length)].sort(), nodes, `seed ${seed} pass ${pass}`);
      }
      for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], `seed ${seed}: ${seen.join('')}`);
    }
  });

  it('shuffle starts on a random node; round-robin always on the first', () => {
    assert.equal(new FailoverRotation(['a', 'b', 'c'], 'shuffle', sequence(0)).current, 'b');
    assert.equal(new FailoverRotation(['a', 'b', 'c'], 'shuffle', sequence(0.99)).current, 'a');
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) firsts.add(new FailoverRotation(['a', 'b', 'c'], 'shuffle').current);
    assert.deepEqual([...firsts].sort(), ['a', 'b', 'c']);
    assert.equal(new FailoverRotation(['a', 'b', 'c'], 'round-robin', sequence(0.5)).current, 'a');
  });

  it('refuses an empty list', () => {
    assert.throws(() => new FailoverRotation([]), RangeError);
  });
});
