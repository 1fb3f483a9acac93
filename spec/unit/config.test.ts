import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { ConfigError, UnknownSchemeError } from '../../lib/errors/errors.js';
import { toMilliseconds } from '../../lib/util/duration.js';
import { redactUrl } from '../../lib/util/url.js';

describe('createApp options', () => {
  it('rejects an unknown option, naming it', () => {
    assert.throws(
      () => createApp({ brokr: 'amqp://x' } as never),
      (error: unknown) => error instanceof ConfigError && error.option === 'brokr' && /brokr: unknown option/.test(error.message),
    );
  });
  it('rejects bad values, naming the option', () => {
    assert.throws(() => createApp({ serializer: 'pickle' }), /serializer: unknown serializer "pickle"/);
    assert.throws(() => createApp({ resultExpires: 'soon' }), /resultExpires: expected a duration/);
    assert.throws(() => createApp({ prefetchMultiplier: 0 }), /prefetchMultiplier: expected a positive integer/);
    assert.throws(
      () => createApp({ logLevel: 'loud' as never }),
      /logLevel: unknown log level "loud"; expected one of DEBUG, INFO, WARNING/,
    );
    assert.throws(() => createApp({ maxUnconfirmedPublishes: 0 }), /maxUnconfirmedPublishes: expected a positive integer/);
    assert.throws(() => createApp({ maxUnconfirmedPublishes: 2.5 }), /maxUnconfirmedPublishes: expected a positive integer/);
    assert.equal(createApp({ broker: 'memory://config-spec' }).config.maxUnconfirmedPublishes, null);
    assert.equal(createApp({ broker: 'memory://config-spec', maxUnconfirmedPublishes: 1000 }).config.maxUnconfirmedPublishes, 1000);
    for (const bad of [1, 4095, -1, 5000.5, '64MB']) {
      assert.throws(
        () => createApp({ brokerMaxFrameSize: bad as number }),
        /brokerMaxFrameSize: expected 0 \(no limit\), an integer of at least 4096/,
      );
    }
    assert.equal(createApp({ broker: 'memory://config-spec' }).config.brokerMaxFrameSize, null);
    assert.equal(createApp({ broker: 'memory://config-spec', brokerMaxFrameSize: 0 }).config.brokerMaxFrameSize, 0);
    assert.equal(createApp({ broker: 'memory://config-spec', brokerMaxFrameSize: 1 << 20 }).config.brokerMaxFrameSize, 1 << 20);
  });
  it('does no I/O: an unreachable broker is fine until first use', async () => {
    const app = createApp({ broker: 'amqp://guest:guest@127.0.0.1:1', backend: 'redis://127.0.0.1:1/0' });
    assert.equal(app.config.broker, 'amqp://guest:guest@127.0.0.1:1');
    await app.close();
  });
  it('names the known schemes for an unknown broker or backend URL', () => {
    const app = createApp({ broker: 'kafka://x', backend: 'mongodb://y' });
    assert.throws(
      () => app.transport,
      (e: unknown) => e instanceof UnknownSchemeError && /amqp:\/\/, amqps:\/\/, memory:\/\//.test(e.message),
    );
    assert.throws(
      () => app.backend,
      (e: unknown) => e instanceof UnknownSchemeError && /redis:\/\//.test(e.message),
    );
  });
  it('explains a missing backend when results are asked for', async () => {
    const app = createApp({ broker: 'memory://config-spec', backend: null });
    assert.throws(() => app.backend, /no result backend configured/);
    await app.close();
  });
  it('rejects unknown task and call options', async () => {
    const app = createApp({ broker: 'memory://config-spec', backend: null });
    assert.throws(() => app.task('t.x', () => 1, { retrys: 3 } as never), /retrys: unknown option of task t.x/);
    const t = app.task('t.y', (n: number) => n);
    await assert.rejects(t.applyAsync([1], {}, { countDown: 5 } as never), /countDown: unknown call option/);
    assert.throws(() => app.task('t.y', () => 2), /already registered/);
    await app.close();
  });
});

describe('durations', () => {
  it('reads ms numbers and unit strings', () => {
    assert.equal(toMilliseconds(1500, 'x'), 1500);
    assert.equal(toMilliseconds('250ms', 'x'), 250);
    assert.equal(toMilliseconds('30s', 'x'), 30_000);
    assert.equal(toMilliseconds('5m', 'x'), 300_000);
    assert.equal(toMilliseconds('1h', 'x'), 3_600_000);
    assert.equal(toMilliseconds('1.5d', 'x'), 129_600_000);
    assert.throws(() => toMilliseconds(-1, 'countdown'), /countdown: expected a non-negative/);
    assert.throws(() => toMilliseconds('5 minutes', 'expires'), /expires: expected a duration/);
  });
});

describe('redactUrl', () => {
  it('hides passwords and keeps host and port', () => {
    assert.equal(redactUrl('amqp://guest:secret@rabbit:5672/vhost'), 'amqp://guest:***@rabbit:5672/vhost');
    assert.equal(redactUrl('redis://:pw@127.0.0.1:6379/0'), 'redis://:***@127.0.0.1:6379/0');
    assert.equal(redactUrl('memory://demo'), 'memory://demo');
  });
});
