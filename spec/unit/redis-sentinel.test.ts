import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createRedisBackend } from '../../lib/backends/redis/redis-backend.js';
import { ReplicaAcknowledgement, ReplicasBehindError } from '../../lib/backends/redis/replica-acknowledgement.js';
import { parseSentinelUrl } from '../../lib/backends/redis/sentinel-url.js';
import { createBackend } from '../../lib/backends/registry.js';
import { resolveTransportOptions, resolveWaitForReplicas } from '../../lib/backends/result-backend-options.js';
import { ConfigError } from '../../lib/errors/errors.js';
import { createApp } from '../../lib/index.js';
import { silentLogger } from '../../lib/log/logger.js';
import type { Redis } from '../../lib/util/ioredis.js';
import { redactUrl } from '../../lib/util/url.js';

const configError = (option: string, pattern: RegExp) => (error: unknown) =>
  error instanceof ConfigError && error.option === option && pattern.test(error.message);

describe('sentinel:// URLs', () => {
  it("reads Celery's list: sentinels in order, the data nodes' password and db from the first URL, port 26379 by default", () => {
    const target = parseSentinelUrl('sentinel://:p%40ss@h1:26380/3;sentinel://h2/3;sentinel://[::1]', { masterName: 'mymaster' });
    assert.deepEqual(target, {
      sentinels: [
        { host: 'h1', port: 26380 },
        { host: 'h2', port: 26379 },
        { host: '::1', port: 26379 },
      ],
      name: 'mymaster',
      db: 3,
      password: 'p@ss',
    });
  });

  it("takes the master name from the URL (which wins over the option) and the sentinels' credentials from the options", () => {
    const target = parseSentinelUrl('sentinel://u:pw@h1:1/0?master_name=from-url;sentinel://h2:2/0', {
      masterName: 'from-options',
      sentinelPassword: 'spw',
      sentinelUsername: 'sentinel-user',
    });
    assert.equal(target.name, 'from-url');
    assert.equal(target.username, 'u');
    assert.equal(target.password, 'pw');
    assert.equal(target.sentinelPassword, 'spw');
    assert.equal(target.sentinelUsername, 'sentinel-user');
  });

  it('refuses what cannot be meant, naming backend and never showing a password', () => {
    const cases: [string, RegExp][] = [
      ['sentinel://:secret@h1/0', /does not say which primary to use: add \?master_name=<name>.*resultBackendTransportOptions\.masterName/],
      ['sentinel://:secret@h1/0?master_name=a;sentinel://h2/0?master_name=b', /gives another master_name/],
      ['sentinel://:secret@h1/0?master_name=a;sentinel://:hidden2@h2/0', /gives another password than an earlier URL/],
      ['sentinel://:secret@h1/0?master_name=a;sentinel://h2/1', /gives another database/],
      ['sentinel://:secret@h1/x?master_name=a', /the path must be a database number/],
      ['sentinel://:secret@h1/0?master_name=a&socket_timeout=1', /unknown query parameter socket_timeout; known: master_name/],
      ['sentinel://:secret@h1/0?master_name=a;redis://h2:6379/0', /every URL of a Sentinel list must be sentinel:\/\//],
      ['sentinel://:secret@h1/0?master_name=', /master_name is empty/],
      [';', /names no sentinel/],
    ];
    for (const [url, pattern] of cases) {
      assert.throws(
        () => parseSentinelUrl(url),
        (error: unknown) =>
          configError('backend', pattern)(error) &&
          !(error as Error).message.includes('secret') &&
          !(error as Error).message.includes('hidden2'),
        url,
      );
    }
  });

  it('is a registered backend scheme; constructing one does no I/O and a bad URL fails at once', async () => {
    const options = { resultExpiresMs: 1000, logger: silentLogger() };
    const backend = createBackend('sentinel://:pw@127.0.0.1:1/0?master_name=m;sentinel://127.0.0.1:2/0', options);
    assert.equal(backend.url, 'sentinel://:***@127.0.0.1:1/0?master_name=m;sentinel://127.0.0.1:2/0');
    await backend.close();
    assert.throws(() => createRedisBackend('sentinel://127.0.0.1:1/0', options), /does not say which primary to use/);
  });

  it('redactUrl hides the password of every URL of a list', () => {
    assert.equal(redactUrl('sentinel://:a@h1:26379/0;sentinel://u:b@h2:26379/0'), 'sentinel://:***@h1:26379/0;sentinel://u:***@h2:26379/0');
    assert.equal(redactUrl('redis://:pw@h:6379/0?x=1;y=2'), 'redis://:***@h:6379/0?x=1;y=2');
  });
});

describe('resultBackendTransportOptions and resultBackendWaitForReplicas', () => {
  it("accept celeriac's and Celery's spellings", () => {
    assert.deepEqual(resolveTransportOptions({ master_name: 'm', sentinel_kwargs: { password: 'p', username: 'u' } }), {
      masterName: 'm',
      sentinelPassword: 'p',
      sentinelUsername: 'u',
    });
    assert.deepEqual(resolveTransportOptions({ masterName: 'm', master_name: 'm', sentinelPassword: 'p' }), {
      masterName: 'm',
      sentinelPassword: 'p',
    });
    assert.deepEqual(resolveTransportOptions(undefined), {});
    assert.deepEqual(resolveWaitForReplicas({ replicas: 2, timeout: '1.5s' }), { replicas: 2, timeoutMs: 1500 });
    assert.equal(resolveWaitForReplicas(null), null);
  });

  it('refuse bad values with a ConfigError naming the option, from createApp on', () => {
    const redis = 'redis://127.0.0.1:6379/0';
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { resultBackendTransportOptions: { masterName: 'a', master_name: 'b' } },
        'resultBackendTransportOptions.masterName',
        /same setting and differ/,
      ],
      [
        { resultBackendTransportOptions: { min_other_sentinels: 1 } },
        'resultBackendTransportOptions.min_other_sentinels',
        /unknown option/,
      ],
      [
        { resultBackendTransportOptions: { sentinel_kwargs: { socket_timeout: 1 } } },
        'resultBackendTransportOptions.sentinel_kwargs.socket_timeout',
        /unknown/,
      ],
      [{ resultBackendTransportOptions: { sentinelPassword: 42 } }, 'resultBackendTransportOptions.sentinelPassword', /got number/],
      [{ resultBackendTransportOptions: 'mymaster' }, 'resultBackendTransportOptions', /expected an object/],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 0, timeout: 100 } },
        'resultBackendWaitForReplicas.replicas',
        /positive integer/,
      ],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 1.5, timeout: 100 } },
        'resultBackendWaitForReplicas.replicas',
        /positive integer/,
      ],
      [{ backend: redis, resultBackendWaitForReplicas: { replicas: 1 } }, 'resultBackendWaitForReplicas.timeout', /required/],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 1, timeout: 0 } },
        'resultBackendWaitForReplicas.timeout',
        /1 ms to 9000 ms/,
      ],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 1, timeout: '10s' } },
        'resultBackendWaitForReplicas.timeout',
        /1 ms to 9000 ms/,
      ],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 1, timeout: 'soon' } },
        'resultBackendWaitForReplicas.timeout',
        /expected a duration/,
      ],
      [
        { backend: redis, resultBackendWaitForReplicas: { replicas: 1, timeout: 100, onTimeout: 'warn' } },
        'resultBackendWaitForReplicas.onTimeout',
        /unknown/,
      ],
      [{ backend: 'rpc://', resultBackendWaitForReplicas: { replicas: 1, timeout: 100 } }, 'resultBackendWaitForReplicas', /needs a redis/],
      [{ backend: null, resultBackendWaitForReplicas: { replicas: 1, timeout: 100 } }, 'resultBackendWaitForReplicas', /got none/],
      [{ backend: [] }, 'backend', /non-empty list/],
      [
        { backend: ['sentinel://h1/0', 'redis://:secret@h2/0'] },
        'backend',
        /every URL must be sentinel:\/\/, got "redis:\/\/:\*\*\*@h2\/0"/,
      ],
    ];
    for (const [options, option, pattern] of cases) {
      assert.throws(
        () => createApp({ broker: 'memory://sentinel-spec', ...options }),
        configError(option, pattern),
        JSON.stringify(options),
      );
    }
  });

  it('a list of sentinel:// URLs as an array is the same list joined with ;', () => {
    const app = createApp({
      broker: 'memory://sentinel-spec',
      backend: ['sentinel://:pw@h1:26379/0', ' sentinel://h2:26379/0 '],
      resultBackendTransportOptions: { master_name: 'mymaster' },
      resultBackendWaitForReplicas: { replicas: 1, timeout: 250 },
    });
    assert.equal(app.config.backend, 'sentinel://:pw@h1:26379/0;sentinel://h2:26379/0');
    assert.deepEqual(app.config.resultBackendTransportOptions, { masterName: 'mymaster' });
    assert.deepEqual(app.config.resultBackendWaitForReplicas, { replicas: 1, timeoutMs: 250 });
  });
});

describe('ReplicaAcknowledgement (WAIT after writes)', () => {
  /** A stand-in for the connection: only its 'close' event is used. */
  function harness(replies: number[]) {
    const client = new EventEmitter();
    const waits: { replicas: number; timeoutMs: number; answer: (count: number) => void }[] = [];
    const acknowledgement = new ReplicaAcknowledgement(
      client as unknown as Redis,
      { replicas: 2, timeoutMs: 300 },
      (replicas, timeoutMs) => {
        return new Promise<number>((resolve) => {
          waits.push({ replicas, timeoutMs, answer: resolve });
          if (replies.length > 0) resolve(replies.shift()!);
        });
      },
    );
    return { client, waits, acknowledgement };
  }

  it('one WAIT serves every write answered before it was sent; a write answered later gets the next', async () => {
    const { waits, acknowledgement } = harness([2, 3]);
    await Promise.all([acknowledgement.confirm(), acknowledgement.confirm(), acknowledgement.confirm()]);
    assert.equal(waits.length, 1);
    assert.deepEqual([waits[0].replicas, waits[0].timeoutMs], [2, 300]);
    await acknowledgement.confirm();
    assert.equal(waits.length, 2);
  });

  it('rejects when fewer replicas acknowledged in time, saying how many', async () => {
    const { acknowledgement } = harness([1]);
    await assert.rejects(
      acknowledgement.confirm(),
      (error: unknown) => error instanceof ReplicasBehindError && /1 of 2 replicas acknowledged it within 300 ms/.test(error.message),
    );
  });

  it('rejects when the connection closed between the write and the answer to its WAIT, however many acknowledged', async () => {
    const { client, waits, acknowledgement } = harness([]);
    const confirming = acknowledgement.confirm();
    await new Promise((resolve) => setImmediate(resolve));
    client.emit('close');
    waits[0].answer(2);
    await assert.rejects(confirming, /connection to the primary was lost before replicas acknowledged it/);
  });
});
