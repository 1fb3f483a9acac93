import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../lib/app/config.js';
import { closeClient, commandConnection } from '../../lib/backends/redis/connection.js';
import { sentinelRouteFailure } from '../../lib/backends/redis/tls-refusals.js';
import { ConfigError } from '../../lib/errors/errors.js';
import type { RedisOptions } from '../../lib/util/ioredis.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';

/** TLS through Sentinel: which settings reach the data nodes and which the sentinels, and what is refused. */
let certs: TestCertificates;
before(async () => {
  certs = await makeTestCertificates();
});
after(() => certs?.remove());

const SENTINELS = 'sentinel://:pw@10.0.0.1:26379/0?master_name=mymaster;sentinel://10.0.0.2:26379/0';

function configError(option: string | RegExp, message: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    if (typeof option === 'string') assert.equal(error.option, option);
    else assert.match(error.option, option);
    assert.match(error.message, message);
    return true;
  };
}

function files(ca = certs.ca): { ssl_ca_certs: string; ssl_certfile: string; ssl_keyfile: string; ssl_cert_reqs: string } {
  return { ssl_ca_certs: ca, ssl_certfile: certs.client.cert, ssl_keyfile: certs.client.key, ssl_cert_reqs: 'CERT_REQUIRED' };
}

describe('TLS through Sentinel: settings', () => {
  it("backendTls (Celery's redis_backend_use_ssl) with a sentinel:// backend is TLS to the data nodes; none given: plain text", () => {
    const config = resolveConfig({ backend: SENTINELS, backendTls: files() }, {});
    assert.equal(config.backendTls?.caFile, certs.ca);
    assert.equal(config.backendTls?.certFile, certs.client.cert);
    assert.equal(config.backendTls?.socketOptions.rejectUnauthorized, true);
    assert.equal(config.resultBackendTransportOptions.sentinelTls, undefined, 'the sentinels stay plain text unless told');
    assert.equal(resolveConfig({ backend: SENTINELS }, {}).backendTls, null);
    const defaults = resolveConfig({ backend: SENTINELS, backendTls: true }, {}).backendTls;
    assert.deepEqual(defaults?.socketOptions, { rejectUnauthorized: true });
    const fromEnv = resolveConfig({ backend: SENTINELS }, { CELERIAC_BACKEND_TLS_CA_FILE: certs.ca }).backendTls;
    assert.equal(fromEnv?.caFile, certs.ca);
  });

  it("the sentinels' TLS: sentinel_kwargs { ssl: true, ssl_* } (Celery's), sentinelTls (celeriac's) or the environment", () => {
    const celery = resolveConfig(
      { backend: SENTINELS, resultBackendTransportOptions: { sentinel_kwargs: { password: 'spw', ssl: true, ...files() } } },
      {},
    ).resultBackendTransportOptions;
    assert.equal(celery.sentinelPassword, 'spw');
    assert.equal(celery.sentinelTls?.caFile, certs.ca);
    assert.equal(celery.sentinelTls?.keyFile, certs.client.key);
    const onlySsl = resolveConfig({ backend: SENTINELS, resultBackendTransportOptions: { sentinel_kwargs: { ssl: true } } }, {});
    assert.deepEqual(onlySsl.resultBackendTransportOptions.sentinelTls?.socketOptions, { rejectUnauthorized: true });
    const camel = resolveConfig(
      { backend: SENTINELS, resultBackendTransportOptions: { sentinelTls: { caFile: certs.ca, certReqs: 'none' } } },
      {},
    ).resultBackendTransportOptions.sentinelTls;
    assert.equal(camel?.certReqs, 'none');
    assert.equal(camel?.socketOptions.rejectUnauthorized, false);
    const env = resolveConfig({ backend: SENTINELS }, { CELERIAC_BACKEND_SENTINEL_TLS_CA_FILE: certs.ca });
    assert.equal(env.resultBackendTransportOptions.sentinelTls?.caFile, certs.ca);
    assert.equal(env.backendTls, null, "the sentinels' variables are not the data nodes'");
    const off = resolveConfig({ backend: SENTINELS, resultBackendTransportOptions: { sentinel_kwargs: { ssl: false } } }, {});
    assert.equal(off.resultBackendTransportOptions.sentinelTls, undefined);
  });

  it('refuses what would be plain text, ambiguous or contradictory, naming the option', () => {
    const transport = (options: object, backend = SENTINELS, env: NodeJS.ProcessEnv = {}) =>
      resolveConfig({ backend, resultBackendTransportOptions: options }, env);
    assert.throws(
      () => transport({ sentinel_kwargs: { ssl_ca_certs: certs.ca } }),
      configError('resultBackendTransportOptions.sentinel_kwargs.ssl_ca_certs', /without ssl: ssl is not set .*plain text.*add ssl: true/),
    );
    assert.throws(
      () => transport({ sentinel_kwargs: { ssl: false, ssl_ca_certs: certs.ca } }),
      configError('resultBackendTransportOptions.sentinel_kwargs.ssl_ca_certs', /ssl is false/),
    );
    assert.throws(
      () => transport({ sentinel_kwargs: { ssl: 'yes' } }),
      configError('resultBackendTransportOptions.sentinel_kwargs.ssl', /expected true or false/),
    );
    assert.throws(
      () => transport({ sentinelTls: { caFile: certs.ca }, sentinel_kwargs: { ssl: true } }),
      configError('resultBackendTransportOptions.sentinelTls', /give one of them/),
    );
    assert.throws(
      () => transport({ sentinel_kwargs: { ssl: true, ssl_check_hostname: true } }),
      configError('resultBackendTransportOptions.sentinel_kwargs.ssl_check_hostname', /unknown option; known: .*ssl_ca_certs/),
    );
    assert.throws(
      () => transport({ sentinelTls: { caFile: '/nowhere/ca.pem' } }),
      configError('resultBackendTransportOptions.sentinelTls.caFile', /cannot read the CA certificate file \/nowhere\/ca\.pem/),
    );
    assert.throws(
      () => transport({ sentinelTls: true }, 'rediss://127.0.0.1:6380/0'),
      configError(
        'resultBackendTransportOptions.sentinelTls',
        /TLS settings for Redis sentinels, but the result backend is rediss:.*not sentinel/,
      ),
    );
    // The variables, set for a host, concern sentinel:// backends only.
    const other = transport({}, 'redis://127.0.0.1:6379/0', { CELERIAC_BACKEND_SENTINEL_TLS_CA_FILE: certs.ca });
    assert.equal(other.resultBackendTransportOptions.sentinelTls, undefined);
  });

  it('ssl_* parameters on a sentinel:// URL are refused: the parameter is named, and where each setting goes instead', () => {
    for (const [parameter, setting] of [
      ['ssl_ca_certs', 'caFile'],
      ['ssl_cert_reqs', 'certReqs'],
      ['ssl_certfile', 'certFile'],
    ]) {
      const url = `sentinel://:secret@h1:26379/0?master_name=m;sentinel://h2:26379/0?${parameter}=x`;
      assert.throws(
        () => resolveConfig({ backend: url }, {}),
        (error: unknown) => {
          configError('backend', new RegExp(`the query parameter ${parameter} is ambiguous on a sentinel:// URL`))(error);
          const message = (error as Error).message;
          assert.match(message, new RegExp(`backendTls\\.${setting} \\(Celery: redis_backend_use_ssl\\['${parameter}'\\]\\)`));
          assert.match(message, new RegExp(`resultBackendTransportOptions\\.sentinelTls\\.${setting}`));
          assert.match(message, /sentinel_kwargs'\] with 'ssl': True/);
          assert.ok(!message.includes('secret'));
          return true;
        },
      );
    }
  });
});

describe('TLS through Sentinel: the ioredis options', () => {
  type Options = Omit<RedisOptions, 'tls'> & { tls?: ConnectionOptions };
  function optionsOf(tls: boolean, sentinelTls: boolean): Options {
    const config = resolveConfig(
      {
        backend: SENTINELS,
        ...(tls ? { backendTls: files() } : {}),
        ...(sentinelTls ? { resultBackendTransportOptions: { sentinelTls: { caFile: certs.otherCa } } } : {}),
      },
      {},
    );
    const { client } = commandConnection(SENTINELS, config.resultBackendTransportOptions, config.backendTls);
    void closeClient(client);
    return client.options as Options;
  }

  it("the data nodes' settings become tls with enableTLSForSentinelMode, the sentinels' sentinelTLS", () => {
    const both = optionsOf(true, true);
    assert.equal(both.enableTLSForSentinelMode, true, 'without it ioredis would ignore tls and reach the primary in plain text');
    assert.equal(String(both.tls?.ca), readFileSync(certs.ca, 'utf8'), "the data nodes' CA");
    assert.ok(both.tls?.cert && both.tls.key, 'the client certificate goes to the data nodes');
    assert.equal(both.tls?.rejectUnauthorized, true);
    assert.equal(String(both.sentinelTLS?.ca), readFileSync(certs.otherCa, 'utf8'), "the sentinels' CA");
    assert.notEqual(String(both.sentinelTLS?.ca), String(both.tls?.ca), 'each kind of server gets its own settings');
    assert.equal(both.sentinelTLS?.cert, undefined);

    const dataOnly = optionsOf(true, false);
    assert.equal(dataOnly.enableTLSForSentinelMode, true);
    assert.equal(dataOnly.sentinelTLS, undefined);
    const sentinelsOnly = optionsOf(false, true);
    assert.ok(!sentinelsOnly.enableTLSForSentinelMode);
    assert.ok(sentinelsOnly.sentinelTLS?.ca);
  });
});

describe('TLS through Sentinel: failures', () => {
  const sentinel = { host: '10.0.0.1', port: 26379 };
  const primary = { host: '10.0.0.9', port: 6379 };

  it('name the sentinel or the primary, and say which setting holds its TLS', () => {
    const untrusted = {
      kind: 'untrusted-certificate' as const,
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
      text: "the server's certificate is not trusted",
    };
    assert.equal(
      sentinelRouteFailure(untrusted, 'sentinel', sentinel).text,
      "sentinel 10.0.0.1:26379: the server's certificate is not trusted",
    );
    assert.equal(
      sentinelRouteFailure(untrusted, 'data', primary).text,
      "the primary 10.0.0.9:6379: the server's certificate is not trusted",
    );
    const tlsPort = { kind: 'tls-port' as const, code: null, text: 'use rediss://' };
    assert.match(
      sentinelRouteFailure(tlsPort, 'sentinel', sentinel).text,
      /^sentinel 10\.0\.0\.1:26379 speaks TLS, .*set resultBackendTransportOptions\.sentinelTls/,
    );
    assert.match(
      sentinelRouteFailure(tlsPort, 'data', primary).text,
      /^the primary 10\.0\.0\.9:6379 speaks TLS, .*set backendTls \(Celery: redis_backend_use_ssl\)/,
    );
    const plain = { kind: 'not-tls' as const, code: 'ERR_SSL_WRONG_VERSION_NUMBER', text: 'not TLS' };
    assert.match(
      sentinelRouteFailure(plain, 'sentinel', sentinel).text,
      /^sentinel 10\.0\.0\.1:26379 does not speak TLS \(ERR_SSL_WRONG_VERSION_NUMBER\).*it is not used in plain text$/,
    );
  });
});
