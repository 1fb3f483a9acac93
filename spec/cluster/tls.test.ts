import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackendError, BrokerTlsError, chain, chord, createApp, type App, type AppOptions, type TlsOptions } from '../../lib/index.js';
import { uniqueName } from '../support/apps.js';
import { captureLogger } from '../support/capture-logger.js';
import { Workload } from '../support/loss-checker.js';
import { startCli } from '../support/processes.js';
import { RabbitNode } from '../support/rabbit-node.js';
import { RedisTlsServer } from '../support/redis-tls-server.js';
import { RELIABILITY_APP } from '../support/loss-checker.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';

/**
 * TLS end to end against real listeners: a RabbitMQ node of this spec's own (plain 5691, TLS
 * 5692, client certificates required) and a redis-server (plain 6395, TLS 6396, client
 * certificates required), with certificates made for the run (spec/support/tls-certs.ts). The
 * servers serve a copy of the good certificate ("served.*"): the bad-certificate cases copy
 * another one over it and reload (RabbitMQ: ssl:clear_pem_cache; Redis: CONFIG SET), then put
 * the good one back.
 */
const AMQP_PORT = 5691;
const AMQPS_PORT = 5692;
const REDIS_PORT = 6395;
const REDISS_PORT = 6396;

let certs: TestCertificates;
let node: RabbitNode | null = null;
let redis: RedisTlsServer | null = null;
let served: { cert: string; key: string };

const amqps = (password = 'guest'): string => `amqps://guest:${password}@127.0.0.1:${AMQPS_PORT}`;
const clientTls = (): TlsOptions => ({
  caFile: certs.ca,
  certFile: certs.client.cert,
  keyFile: certs.client.key,
});
/** The broker URL with its TLS settings as kombu's query parameters. */
const amqpsWithParameters = (): string =>
  `${amqps()}?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(certs.ca)}` +
  `&ssl_certfile=${encodeURIComponent(certs.client.cert)}&ssl_keyfile=${encodeURIComponent(certs.client.key)}`;
/** The backend URL with its TLS settings as Celery's query parameters (Celery requires ssl_cert_reqs). */
const redissWithParameters = (): string =>
  `rediss://127.0.0.1:${REDISS_PORT}/0?ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(certs.ca)}` +
  `&ssl_certfile=${encodeURIComponent(certs.client.cert)}&ssl_keyfile=${encodeURIComponent(certs.client.key)}`;

before(async () => {
  certs = await makeTestCertificates();
  served = { cert: join(certs.dir, 'served.crt'), key: join(certs.dir, 'served.key') };
  copyFileSync(certs.server.cert, served.cert);
  copyFileSync(certs.server.key, served.key);
  node = new RabbitNode({
    name: 'celeriac-tls',
    port: AMQP_PORT,
    tls: { port: AMQPS_PORT, caFile: certs.ca, certFile: served.cert, keyFile: served.key, requireClientCertificate: true },
  });
  redis = new RedisTlsServer({
    port: REDIS_PORT,
    tlsPort: REDISS_PORT,
    caFile: certs.ca,
    certFile: served.cert,
    keyFile: served.key,
    requireClientCertificate: true,
  });
  await Promise.all([node.start(), redis.start()]);
});

after(async () => {
  await Promise.allSettled([node?.stop(), redis?.stop()]);
  certs?.remove();
});

/** Serves `pair` on both TLS listeners until `restore()`. */
async function serve(pair: { cert: string; key: string }): Promise<void> {
  copyFileSync(pair.cert, served.cert);
  copyFileSync(pair.key, served.key);
  await Promise.all([node!.ctl('eval', 'ssl:clear_pem_cache().'), redis!.serveCertificate(served.cert, served.key)]);
}

async function restore(): Promise<void> {
  await serve(certs.server);
}

/** Declares a queue of its own (gone with the connection) and counts its messages: 0 once connected. */
async function useBroker(app: App): Promise<number> {
  const queue = uniqueName('tls');
  await app.transport.declareQueue({ name: queue, durable: false, exclusive: true, transient: true });
  return app.transport.messageCount(queue);
}

/** The error the first broker operation of an app with these options meets (the app is closed after). */
async function brokerFailure(options: AppOptions): Promise<unknown> {
  const app = createApp({ backend: null, logLevel: 'silent', ...options });
  try {
    await useBroker(app);
    return null;
  } catch (error) {
    return error;
  } finally {
    await app.close();
  }
}

/** The error the first backend operation of an app with these options meets (the app is closed after). */
async function backendFailure(options: AppOptions): Promise<unknown> {
  const app = createApp({ broker: 'memory://tls-spec', logLevel: 'silent', ...options });
  try {
    await app.backend.getMeta(uniqueName('tls'));
    return null;
  } catch (error) {
    return error;
  } finally {
    await app.close();
  }
}

/** A BrokerTlsError of this reason, naming the URL without its password. Retries are not waited for: the default 100 would take minutes. */
function assertBrokerTls(error: unknown, reason: string, text: RegExp, port = AMQPS_PORT): void {
  assert.ok(error instanceof BrokerTlsError, `expected BrokerTlsError, got ${String(error)}`);
  assert.equal(error.code, 'CELERIAC_BROKER_TLS');
  assert.equal(error.reason, reason);
  assert.match(error.message, new RegExp(`^broker amqps?://guest:\\*\\*\\*@127\\.0\\.0\\.1:${port}: TLS: `));
  assert.match(error.message, text);
  assert.ok(!error.message.includes('s3cret'), error.message);
}

function assertBackendTls(error: unknown, text: RegExp, port = REDISS_PORT): void {
  assert.ok(error instanceof BackendError, `expected BackendError, got ${String(error)}`);
  assert.match(error.message, new RegExp(`^result backend rediss?://(:\\*\\*\\*@)?127\\.0\\.0\\.1:${port}/0: GET failed: TLS: `));
  assert.match(error.message, text);
  assert.ok(!error.message.includes('s3cret'), error.message);
}

describe('TLS: amqps:// and rediss:// with client certificates', () => {
  it('a producer and a worker run add, chain and chord over amqps://, results over rediss://', async () => {
    const app: App = createApp({
      name: 'tls-spec',
      broker: amqps(),
      brokerTls: clientTls(),
      backend: `rediss://127.0.0.1:${REDISS_PORT}/0`,
      backendTls: { ssl_cert_reqs: 'required', ssl_ca_certs: certs.ca, ssl_certfile: certs.client.cert, ssl_keyfile: certs.client.key },
      defaultQueue: uniqueName('tls'),
      logLevel: 'silent',
    });
    const add = app.task('tls.add', (x: number, y: number) => x + y);
    const sum = app.task('tls.sum', (values: number[]) => values.reduce((total, n) => total + n, 0));
    const worker = app.worker({ concurrency: 4, shutdownTimeout: '5s' });
    try {
      await worker.start();
      assert.equal(await add.delay(2, 3).get({ timeout: 30_000 }), 5);
      assert.equal(await (await chain(add.s(1, 2), add.s(10), add.s(100)).applyAsync()).get({ timeout: 30_000 }), 113);
      const header = Array.from({ length: 20 }, (_, i) => add.s(i, 1));
      assert.equal(await (await chord(header, sum.s()).applyAsync()).get({ timeout: 30_000 }), 210);
      // Every connection is TLS, with the client certificate: the broker's and Redis's own word.
      const connections = (await node!.ctl('list_connections', '-q', '--no-table-headers', 'ssl', 'peer_cert_subject')).trim().split('\n');
      assert.ok(connections.length >= 2, connections.join('\n'));
      for (const line of connections) assert.match(line, /^true\s+CN=celeriac-client$/);
      const ports = await redis!.clientPorts();
      assert.ok(ports.length >= 2, String(ports));
      assert.deepEqual(new Set(ports), new Set([REDISS_PORT]));
    } finally {
      await worker.stop();
      await app.transport.deleteQueue(app.config.defaultQueue).catch(() => undefined);
      await app.close();
    }
  });

  it('a CA that did not sign the server certificate: refused at once, on both', async () => {
    const untrusted = { ...clientTls(), caFile: certs.otherCa };
    assertBrokerTls(
      await brokerFailure({ broker: amqps('s3cret'), brokerTls: untrusted }),
      'untrusted-certificate',
      /SELF_SIGNED_CERT_IN_CHAIN/,
    );
    assertBackendTls(
      await backendFailure({ backend: `rediss://:s3cret@127.0.0.1:${REDISS_PORT}/0`, backendTls: untrusted }),
      /not trusted \(SELF_SIGNED_CERT_IN_CHAIN/,
    );
  });

  it('an expired server certificate, and one that does not name the host: each said as such', async () => {
    // One app through it all: once the server has its good certificate back, the same app connects.
    const app = createApp({
      broker: amqps(),
      brokerTls: clientTls(),
      backend: `rediss://127.0.0.1:${REDISS_PORT}/0`,
      backendTls: clientTls(),
      logLevel: 'silent',
    });
    try {
      await serve(certs.expiredServer);
      assertBrokerTls(
        await useBroker(app).then(
          () => null,
          (error: unknown) => error,
        ),
        'expired-certificate',
        /has expired \(CERT_HAS_EXPIRED\)/,
      );
      assertBackendTls(
        await app.backend.getMeta(uniqueName('tls')).then(
          () => null,
          (error: unknown) => error,
        ),
        /has expired \(CERT_HAS_EXPIRED\)/,
      );
      await serve(certs.wrongNameServer);
      assertBrokerTls(
        await brokerFailure({ broker: amqps('s3cret'), brokerTls: clientTls() }),
        'hostname-mismatch',
        /does not name this host \(ERR_TLS_CERT_ALTNAME_INVALID: .*127\.0\.0\.1/,
      );
      assertBackendTls(
        await backendFailure({ backend: `rediss://:s3cret@127.0.0.1:${REDISS_PORT}/0`, backendTls: clientTls() }),
        /does not name this host \(ERR_TLS_CERT_ALTNAME_INVALID/,
      );
    } finally {
      await restore();
    }
    try {
      assert.equal(await useBroker(app), 0);
      assert.equal((await app.backend.getMeta(uniqueName('tls'))).status, 'PENDING');
    } finally {
      await app.close();
    }
    // serverHostname checks another name than the URL's host: the good certificate names localhost.
    assert.equal(await brokerFailure({ broker: amqps(), brokerTls: { ...clientTls(), serverHostname: 'localhost' } }), null);
    assertBrokerTls(
      await brokerFailure({ broker: amqps('s3cret'), brokerTls: { ...clientTls(), server_hostname: 'mq.example' } }),
      'hostname-mismatch',
      /mq\.example/,
    );
  });

  it('no client certificate, or one the server does not trust: refused by the server, said as such', async () => {
    const caOnly = { caFile: certs.ca };
    const stranger = { caFile: certs.ca, certFile: certs.otherClient.cert, keyFile: certs.otherClient.key };
    assertBrokerTls(
      await brokerFailure({ broker: amqps('s3cret'), brokerTls: caOnly }),
      'client-certificate-refused',
      /requires a client certificate/,
    );
    assertBrokerTls(
      await brokerFailure({ broker: amqps('s3cret'), brokerTls: stranger }),
      'client-certificate-refused',
      /refused this client's certificate/,
    );
    const backend = `rediss://:s3cret@127.0.0.1:${REDISS_PORT}/0`;
    assertBackendTls(
      await backendFailure({ backend, backendTls: caOnly }),
      /requires a client certificate|refused this client's certificate/,
    );
    assertBackendTls(await backendFailure({ backend, backendTls: stranger }), /refused this client's certificate/);
  });

  it('a plain-text port given to a TLS URL, and a TLS port to a plain-text URL: no fallback, said as such', async () => {
    assertBrokerTls(
      await brokerFailure({ broker: `amqps://guest:s3cret@127.0.0.1:${AMQP_PORT}`, brokerTls: clientTls() }),
      'not-tls',
      /does not speak TLS on this port/,
      AMQP_PORT,
    );
    assertBrokerTls(
      await brokerFailure({ broker: `amqp://guest:s3cret@127.0.0.1:${AMQPS_PORT}` }),
      'tls-port',
      /speaks TLS on this port, and the URL is plain text: use amqps:\/\//,
    );
    assertBackendTls(
      await backendFailure({ backend: `rediss://:s3cret@127.0.0.1:${REDIS_PORT}/0`, backendTls: clientTls() }),
      /does not speak TLS on this port/,
      REDIS_PORT,
    );
    assertBackendTls(
      await backendFailure({ backend: `redis://:s3cret@127.0.0.1:${REDISS_PORT}/0` }),
      /speaks TLS on this port.*use rediss:\/\//,
    );
  });

  it('cert_reqs=none connects without checking the server, and says so in a warning', async () => {
    const { logger, lines } = captureLogger();
    const app = createApp({
      broker: amqps(),
      brokerTls: { ...clientTls(), caFile: certs.otherCa, cert_reqs: 'CERT_NONE' },
      backend:
        `${redis!.tlsUrl}?ssl_cert_reqs=none` +
        `&ssl_certfile=${encodeURIComponent(certs.client.cert)}&ssl_keyfile=${encodeURIComponent(certs.client.key)}`,
      logger,
    });
    try {
      assert.equal(await useBroker(app), 0);
      assert.equal((await app.backend.getMeta(uniqueName('tls'))).status, 'PENDING');
      assert.ok(
        lines.some((line) => /^warn: broker amqps:.*certificate verification is off \(cert_reqs=none\)/.test(line)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((line) => /^warn: result backend rediss:.*certificate verification is off/.test(line)),
        lines.join('\n'),
      );
    } finally {
      await app.close();
    }
  });

  it('the worker CLI takes TLS settings from the URL and the environment, and refuses a bad CA at start', async () => {
    const bad = startCli(['worker', '-A', RELIABILITY_APP, '-l', 'info', '-Q', uniqueName('tls')], {
      CELERIAC_BROKER_URL: amqps('s3cret'),
      CELERIAC_BROKER_TLS_CA_FILE: certs.otherCa,
      CELERIAC_BROKER_TLS_CERT_FILE: certs.client.cert,
      CELERIAC_BROKER_TLS_KEY_FILE: certs.client.key,
      CELERIAC_RESULT_BACKEND: '',
    });
    try {
      const code = await bad.exited;
      assert.equal(code, 2, bad.output());
      assert.match(bad.output(), /celeriac: broker amqps:\/\/guest:\*\*\*@127\.0\.0\.1:5692: TLS: the server's certificate is not trusted/);
      assert.ok(!bad.output().includes('s3cret'));
    } finally {
      bad.child.kill('SIGKILL');
    }
  });

  it('TLS connections cut on the broker and on Redis: worker and producer reconnect over TLS, nothing lost', async (t) => {
    const workload = new Workload({
      producerBroker: amqpsWithParameters(),
      workerBroker: amqpsWithParameters(),
      backend: redissWithParameters(),
      checkerRedis: redis!.plainUrl,
      heartbeatSeconds: 5,
    });
    let producerReconnects = 0;
    workload.producer.events.on('broker-reconnected', () => (producerReconnects += 1));
    try {
      // The worker's backend TLS comes from the environment; its broker's from the URL's parameters.
      await workload.startWorker('tls1', ['-c', '2'], {
        CELERIAC_RESULT_BACKEND: redis!.tlsUrl,
        CELERIAC_BACKEND_TLS_CA_FILE: certs.ca,
        CELERIAC_BACKEND_TLS_CERT_FILE: certs.client.cert,
        CELERIAC_BACKEND_TLS_KEY_FILE: certs.client.key,
        CELERIAC_BACKEND_TLS_CERT_REQS: 'required',
      });
      // Two rounds: 150 tasks sent, then every TLS connection cut while the worker is in the
      // middle of them (rabbitmqctl takes seconds to start: the work is long enough to outlast it).
      let killed = 0;
      for (const round of [1, 2]) {
        await workload.send(150, 40, 10);
        await waitUntil(() => workload.executions().length >= 150 * (round - 1) + 10, 60_000);
        await Promise.all([
          node!.ctl('close_all_connections', 'tls spec: connections cut'),
          redis!.killClients().then((count) => (killed += count)),
        ]);
      }
      const report = await workload.settle(90_000);
      t.diagnostic(Workload.summary(report));
      assert.deepEqual(report.lost, [], `lost: ${workload.linesAbout(report.lost).join('\n')}`);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.confirmed + report.failed, 300);
      assert.deepEqual(workload.forbiddenLogLines(), []);
      assert.ok(producerReconnects >= 1, 'the producer reconnected');
      assert.ok(killed >= 2, `Redis connections killed: ${killed}`);
      // The producer's own result connection, cut too, reads over TLS again.
      const [someId] = workload.confirmed;
      await workload.producer.asyncResult(someId).get({ timeout: 30_000 });
      assert.match(workload.workers[0].output(), /broker amqps:\/\/guest:\*\*\*@127\.0\.0\.1:5692 (consume|publish) connection lost/);
      // Still TLS after the cuts, on both (the checker alone reads Redis over the plain port).
      for (const line of (await node!.ctl('list_connections', '-q', '--no-table-headers', 'ssl')).trim().split('\n'))
        assert.equal(line.trim(), 'true');
      const ports = await redis!.clientPorts();
      assert.ok(
        ports.some((port) => port === REDISS_PORT),
        String(ports),
      );
      assert.ok(ports.filter((port) => port !== REDISS_PORT).length <= 1, String(ports));
    } finally {
      await workload.close();
    }
  });
});

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
