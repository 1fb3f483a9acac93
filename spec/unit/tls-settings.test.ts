import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, createApp } from '../../lib/index.js';
import { classifyTlsError, mayHideTlsFailure } from '../../lib/util/tls-failure.js';
import { resolveTls, withoutTlsParameters, type TlsSource } from '../../lib/util/tls-settings.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';

let certs: TestCertificates;
before(async () => {
  certs = await makeTestCertificates();
});
after(() => certs?.remove());

function broker(url: string, given?: unknown, env?: NodeJS.ProcessEnv): TlsSource {
  return { urlOption: 'broker', url, option: 'brokerTls', given, envPrefix: 'CELERIAC_BROKER_TLS_', env: env ?? {} };
}

function configError(source: string | RegExp, message: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    if (typeof source === 'string') assert.equal(error.option, source);
    else assert.match(error.option, source);
    assert.match(error.message, message);
    return true;
  };
}

describe('TLS settings', () => {
  it('a TLS URL with no settings verifies the server against the default CAs; a plain one has no TLS', () => {
    const tls = resolveTls(broker('amqps://guest:guest@mq:5671'));
    assert.deepEqual(tls, {
      certReqs: 'required',
      caFile: null,
      certFile: null,
      keyFile: null,
      serverHostname: null,
      socketOptions: { rejectUnauthorized: true },
    });
    assert.equal(resolveTls(broker('amqp://guest:guest@mq:5672')), null);
    assert.equal(resolveTls(broker('memory://x')), null);
    assert.equal(resolveTls(broker('amqps://mq', true))?.certReqs, 'required');
  });

  it("reads the files once, under celeriac's names and Celery's", () => {
    const camel = resolveTls(broker('amqps://mq', { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key }))!;
    const celery = resolveTls(broker('amqps://mq', { ca_certs: certs.ca, certfile: certs.client.cert, keyfile: certs.client.key }))!;
    const redisNames = resolveTls(
      broker('amqps://mq', { ssl_ca_certs: certs.ca, ssl_certfile: certs.client.cert, ssl_keyfile: certs.client.key }),
    )!;
    for (const tls of [camel, celery, redisNames]) {
      assert.equal(tls.caFile, certs.ca);
      assert.ok(tls.socketOptions.ca?.toString().startsWith('-----BEGIN CERTIFICATE-----'));
      assert.ok(tls.socketOptions.cert?.toString().includes('BEGIN CERTIFICATE'));
      assert.ok(tls.socketOptions.key?.toString().includes('PRIVATE KEY'));
      assert.equal(tls.socketOptions.rejectUnauthorized, true);
    }
    const named = resolveTls(broker('amqps://10.0.0.5', { server_hostname: 'mq.internal', cert_reqs: 'CERT_REQUIRED' }))!;
    assert.equal(named.socketOptions.servername, 'mq.internal');
    assert.equal(named.certReqs, 'required');
  });

  it('cert_reqs none turns verification off only when said; optional verifies, as on a Python client', () => {
    assert.equal(resolveTls(broker('amqps://mq', { certReqs: 'none' }))!.socketOptions.rejectUnauthorized, false);
    assert.equal(resolveTls(broker('amqps://mq', { cert_reqs: 'CERT_NONE' }))!.socketOptions.rejectUnauthorized, false);
    assert.equal(resolveTls(broker('amqps://mq', { certReqs: 'optional' }))!.socketOptions.rejectUnauthorized, true);
  });

  it('URL query parameters win over the option; they are removed from the URL the client library sees', () => {
    const url = `rediss://:pw@cache:6380/1?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(certs.ca)}&family=4`;
    const tls = resolveTls({
      urlOption: 'backend',
      url,
      option: 'backendTls',
      given: { ssl_ca_certs: certs.otherCa, ssl_cert_reqs: 'none' },
    })!;
    assert.equal(tls.caFile, certs.ca);
    assert.equal(tls.certReqs, 'required');
    assert.equal(withoutTlsParameters(url), 'rediss://:pw@cache:6380/1?family=4');
    assert.equal(withoutTlsParameters('amqps://mq:5671/vh?heartbeat=5'), 'amqps://mq:5671/vh?heartbeat=5');
  });

  it('reads the environment when the option is not given, and only then', () => {
    const env = { CELERIAC_BROKER_TLS_CA_FILE: certs.ca, CELERIAC_BROKER_TLS_SERVER_HOSTNAME: 'localhost' };
    const fromEnv = resolveTls(broker('amqps://127.0.0.1', undefined, env))!;
    assert.equal(fromEnv.caFile, certs.ca);
    assert.equal(fromEnv.socketOptions.servername, 'localhost');
    assert.equal(resolveTls(broker('amqps://127.0.0.1', { certReqs: 'required' }, env))!.caFile, null);
    const app = createApp({
      broker: 'amqps://127.0.0.1:5671',
      backend: 'rediss://127.0.0.1:6380/0?ssl_cert_reqs=required',
      logLevel: 'silent',
    });
    assert.equal(app.config.brokerTls?.certReqs, 'required');
    assert.equal(app.config.backendTls?.certReqs, 'required');
  });

  it('refuses TLS settings for a URL without TLS: no silent plain text', () => {
    assert.throws(
      () => resolveTls(broker('amqp://mq', { caFile: certs.ca })),
      configError('brokerTls.caFile', /need a TLS URL .*amqp:\/\/mq/),
    );
    assert.throws(() => resolveTls(broker('amqp://mq', true)), configError('brokerTls', /need a TLS URL/));
    assert.throws(
      () => resolveTls({ urlOption: 'backend', url: 'redis://cache?ssl_cert_reqs=none', option: 'backendTls', given: undefined }),
      configError('backend URL parameter ssl_cert_reqs', /need a TLS URL/),
    );
    assert.throws(
      () => createApp({ broker: 'amqp://u:secret@mq', brokerTls: { caFile: certs.ca } }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('secret'),
    );
    assert.throws(
      () => createApp({ broker: 'memory://x', backend: null, backendTls: { certReqs: 'required' } }),
      configError('backendTls', /no backend/),
    );
  });

  it('names the setting and the path of every bad value', () => {
    assert.throws(
      () => resolveTls(broker('amqps://mq', { certReqs: 'maybe' })),
      configError('brokerTls.certReqs', /required, optional or none/),
    );
    assert.throws(() => resolveTls(broker('amqps://mq', { cafile: certs.ca })), configError('brokerTls.cafile', /unknown TLS setting/));
    assert.throws(() => resolveTls(broker('amqps://mq', false)), configError('brokerTls', /cannot turn TLS off/));
    assert.throws(() => resolveTls(broker('amqps://mq', { certFile: certs.client.cert })), configError('brokerTls.certFile', /both/));
    assert.throws(
      () => resolveTls(broker('amqps://mq', { caFile: certs.ca, ca_certs: certs.otherCa })),
      configError(/brokerTls\.(caFile|ca_certs)/, /contradicts/),
    );
    const missing = join(certs.dir, 'missing.pem');
    assert.throws(
      () => resolveTls(broker('amqps://mq', { caFile: missing })),
      configError('brokerTls.caFile', new RegExp(`cannot read the CA certificate file ${missing} \\(ENOENT\\)`)),
    );
    assert.throws(
      () => resolveTls(broker(`amqps://mq?ssl_ca_certs=${missing}`)),
      configError('broker URL parameter ssl_ca_certs', /ENOENT/),
    );
    const notPem = join(certs.dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello');
    assert.throws(() => resolveTls(broker('amqps://mq', { caFile: notPem })), configError('brokerTls.caFile', /no PEM block/));
    assert.throws(
      () => resolveTls(broker('amqps://mq', { certFile: certs.client.cert, keyFile: certs.otherClient.key })),
      configError('brokerTls.certFile', /does not load/),
    );
    assert.throws(
      () => resolveTls(broker('amqps://mq', undefined, { CELERIAC_BROKER_TLS_KEY_FILE: certs.client.key })),
      configError('$CELERIAC_BROKER_TLS_KEY_FILE', /both/),
    );
  });
});

describe('TLS failures', () => {
  const error = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  it('tells each refusal by its code', () => {
    const kinds: [string, string][] = [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted-certificate'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted-certificate'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted-certificate'],
      ['CERT_HAS_EXPIRED', 'expired-certificate'],
      ['CERT_NOT_YET_VALID', 'expired-certificate'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'hostname-mismatch'],
      ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client-certificate-refused'],
      ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'client-certificate-refused'],
      ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'client-certificate-refused'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'not-tls'],
      ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'handshake-failed'],
      ['EPROTO', 'handshake-failed'],
    ];
    for (const [code, kind] of kinds) assert.equal(classifyTlsError(error(code))?.kind, kind, code);
  });
  it('leaves network faults alone, and marks the ones that may hide a TLS refusal', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH']) assert.equal(classifyTlsError(error(code)), null);
    assert.equal(classifyTlsError(new Error('Socket closed abruptly during opening handshake')), null);
    assert.ok(mayHideTlsFailure(error('ECONNRESET')));
    assert.ok(mayHideTlsFailure(new Error('Socket closed abruptly during opening handshake')));
    assert.ok(!mayHideTlsFailure(error('ECONNREFUSED')));
  });
});
