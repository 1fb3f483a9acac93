import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { TASK_KEY_PREFIX } from '../../lib/backends/key-value-backend.js';
import { createRedisBackend, REVOKED_KEY } from '../../lib/backends/redis/redis-backend.js';
import type { BackendOptions, ResultBackend } from '../../lib/backends/result-backend.js';
import { beatStoreOf } from '../../lib/beat/store.js';
import { silentLogger } from '../../lib/log/logger.js';
import { BackendError, chain, chord, createApp, Signature, type App } from '../../lib/index.js';
import { resolveTls, type TlsConfig, type TlsOptions } from '../../lib/util/tls-settings.js';
import { meta } from '../conformance/backend.conformance.js';
import { AMQP_URL, removeAppQueues, uniqueName } from '../support/apps.js';
import { captureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/faults.js';
import { readJsonLines } from '../support/json-lines.js';
import { Workload } from '../support/loss-checker.js';
import { shareResultsWithCelery } from '../support/celery-results-peer.js';
import { SentinelDeployment } from '../support/redis-sentinel.js';
import type { ChordBodyRecord } from '../support/sentinel-app.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';

/**
 * The Redis backend through Redis Sentinel with TLS between every process: a deployment of its
 * own (spec/support/redis-sentinel.ts) whose primary (6393), replica (6394) and three sentinels
 * (26394-26396) listen on TLS ports only, replicate and talk to each other over TLS, and require
 * client certificates; certificates made for the run (spec/support/tls-certs.ts). A plain-text
 * sentinel (26397) and one presenting an expired certificate (26398) are started for one case
 * each. The data nodes have a password.
 */
const PORTS = { primary: 6393, replica: 6394, sentinels: [26394, 26395, 26396] } as const;
const PLAIN_SENTINEL_PORT = 26397;
const EXPIRED_SENTINEL_PORT = 26398;
const PASSWORD = 'tls-data-secret-51c0';
const SENTINEL_APP = new URL('../support/sentinel-app.js', import.meta.url).pathname;
const DAY_MS = 86_400_000;

let certs: TestCertificates;
let deployment: SentinelDeployment;

before(
  async () => {
    certs = await makeTestCertificates();
    deployment = new SentinelDeployment({
      password: PASSWORD,
      ports: PORTS,
      tls: { ca: certs.ca, server: certs.server, client: certs.client },
    });
    await deployment.start();
  },
  { timeout: 60_000 },
);
after(async () => {
  await deployment?.stop();
  certs?.remove();
});

/** The client's TLS settings in Celery's names (redis_backend_use_ssl, sentinel_kwargs). */
function celeryTls(ca = certs.ca): { ssl_cert_reqs: string; ssl_ca_certs: string; ssl_certfile: string; ssl_keyfile: string } {
  return { ssl_cert_reqs: 'required', ssl_ca_certs: ca, ssl_certfile: certs.client.cert, ssl_keyfile: certs.client.key };
}

/** The same settings in celeriac's names. */
function clientTls(ca = certs.ca): TlsOptions {
  return { caFile: ca, certFile: certs.client.cert, keyFile: certs.client.key };
}

/** Settings resolved as createApp resolves them for a sentinel:// backend. */
function resolved(options: TlsOptions): TlsConfig {
  return resolveTls({ urlOption: 'backend', url: deployment.url(), option: 'spec', given: options, settingsTurnTlsOn: true })!;
}

function backendOptions(dataTls: TlsOptions | null, sentinelTls: TlsOptions | null): BackendOptions {
  return {
    resultExpiresMs: DAY_MS,
    logger: silentLogger(),
    tls: dataTls && resolved(dataTls),
    connection: { sentinelTls: sentinelTls && resolved(sentinelTls) },
  };
}

/** The worker processes' environment: the TLS settings as variables only (the sentinel app names none). */
function tlsEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const prefix of ['CELERIAC_BACKEND_TLS_', 'CELERIAC_BACKEND_SENTINEL_TLS_']) {
    env[`${prefix}CA_FILE`] = certs.ca;
    env[`${prefix}CERT_FILE`] = certs.client.cert;
    env[`${prefix}KEY_FILE`] = certs.client.key;
  }
  return env;
}

describe('cluster: Redis Sentinel over TLS', () => {
  it(
    'a worker and a producer run add, chain and chord through TLS sentinels with results on the TLS primary; ' +
      'revocations, the beat lock and WAIT go the same way',
    { timeout: 60_000 },
    async (t) => {
      const { logger, lines } = captureLogger();
      // Celery's spellings: redis_backend_use_ssl for the data nodes, sentinel_kwargs for the sentinels.
      const app = createApp({
        broker: AMQP_URL,
        backend: deployment.url(),
        backendTls: celeryTls(),
        resultBackendTransportOptions: { sentinel_kwargs: { ssl: true, ...celeryTls() } },
        resultBackendWaitForReplicas: { replicas: 1, timeout: '2s' },
        defaultQueue: uniqueName('sentinel-tls'),
        brokerConnectionMaxRetries: 3,
        logger,
      });
      const add = app.task('sentinel-tls.add', (a: number, b: number) => a + b);
      const addAll = app.task('sentinel-tls.add-all', (values: number[]) => values.reduce((a, b) => a + b, 0));
      const worker = app.worker({ concurrency: 4 });
      const primaryPort = await deployment.waitUntilAgreed(60_000);
      const primary = deployment.dataClient(primaryPort);
      const replica = deployment.dataClient(primaryPort === PORTS.primary ? PORTS.replica : PORTS.primary);
      try {
        await worker.start();
        const sum = await add.delay(2, 3);
        assert.equal(await sum.get({ timeout: 30_000 }), 5);
        assert.equal(await (await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync()).get({ timeout: 30_000 }), 10);
        const joined = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], addAll.s()).applyAsync();
        assert.equal(await joined.get({ timeout: 30_000 }), 12);

        const backend = app.backend as Required<ResultBackend>;
        const revoked = randomUUID();
        await backend.addRevocations([revoked], Date.now() + 3_600_000);
        assert.ok((await backend.listRevocations()).has(revoked));
        const beat = beatStoreOf(backend, uniqueName('beat'))!;
        assert.equal(await beat.lead('leader', 60_000), true);
        assert.equal(await beat.recordRun('leader', 'every-minute', 1_000), true);
        await beat.release('leader');

        // On the primary, read over TLS with a client of its own; WAIT made each write reach the replica first.
        await primary.connect();
        assert.ok((await primary.get(`${TASK_KEY_PREFIX}${sum.id}`))?.includes('"SUCCESS"'));
        assert.notEqual(await primary.zscore(REVOKED_KEY, revoked), null);
        await replica.connect();
        assert.ok((await replica.get(`${TASK_KEY_PREFIX}${sum.id}`))?.includes('"SUCCESS"'), 'on the replica too');
        const text = lines.join('\n');
        assert.match(text, new RegExp(`Sentinel primary 'mymaster' is 127\\.0\\.0\\.1:${PORTS.primary}\\b`));
        assert.ok(!text.includes(PASSWORD), 'no password in any log line');
        t.diagnostic(lines.filter((line) => /Sentinel primary/.test(line)).join(' | '));
      } finally {
        primary.disconnect();
        replica.disconnect();
        await worker.stop();
        await removeAppQueues(app);
        await app.close();
      }
    },
  );

  it('Python Celery 5.2.6 with redis_backend_use_ssl and sentinel_kwargs ssl shares results with celeriac over TLS', async () => {
    const backend = createRedisBackend(deployment.url(), backendOptions(clientTls(), clientTls()));
    try {
      // As Celery users write it: ssl.CERT_REQUIRED and the files, the same for the data nodes and the sentinels.
      const script = [
        'import json, ssl, sys',
        'from celery import Celery',
        'ca, cert, key = sys.argv[3:6]',
        'tls = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": ca, "ssl_certfile": cert, "ssl_keyfile": key}',
        'app = Celery("sentinel-tls-spec", broker="memory://", backend=sys.argv[1])',
        'app.conf.redis_backend_use_ssl = tls',
        'app.conf.result_backend_transport_options = {"master_name": sys.argv[2], "sentinel_kwargs": {"ssl": True, **tls}}',
        'print(json.dumps(app.AsyncResult(sys.argv[-2]).get(timeout=20)))',
        'app.backend.store_result(sys.argv[-1], {"from": "python"}, "SUCCESS")',
        // What redis-py connected to: TLS sockets, to the sentinels and to the primary.
        'pool = app.backend.client.connection_pool',
        'conn = pool.get_connection("GET")',
        'print(type(conn).__name__, type(conn._sock).__name__)',
      ];
      const args = [deployment.url(0, false), deployment.masterName, certs.ca, certs.client.cert, certs.client.key];
      const [connection] = await shareResultsWithCelery(backend, script, args);
      assert.equal(connection, 'SentinelManagedSSLConnection SSLSocket');
    } finally {
      await backend.close();
    }
  });

  it('certificates that cannot pass are refused, each said as such, naming the sentinel or the primary', async () => {
    await deployment.startOddSentinel(EXPIRED_SENTINEL_PORT, certs.expiredServer);
    const otherClient = { ...clientTls(), certFile: certs.otherClient.cert, keyFile: certs.otherClient.key };
    const anySentinel = /sentinel 127\.0\.0\.1:2639[456]: /;
    const primary = new RegExp(`the primary 127\\.0\\.0\\.1:${PORTS.primary}: `);
    const untrusted = /the server's certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN/;
    const clientRefused = /the server refused this client's certificate \(ERR_SSL_/;
    const cases = [
      {
        what: 'a wrong CA for the sentinels',
        data: clientTls(),
        sentinels: clientTls(certs.otherCa),
        where: anySentinel,
        cause: untrusted,
      },
      { what: 'a wrong CA for the data nodes', data: clientTls(certs.otherCa), sentinels: clientTls(), where: primary, cause: untrusted },
      {
        what: 'a client certificate the sentinels refuse',
        data: clientTls(),
        sentinels: otherClient,
        where: anySentinel,
        cause: clientRefused,
      },
      { what: 'a client certificate the primary refuses', data: otherClient, sentinels: clientTls(), where: primary, cause: clientRefused },
      {
        what: 'an expired sentinel certificate',
        url: `sentinel://:${PASSWORD}@127.0.0.1:${EXPIRED_SENTINEL_PORT}/0?master_name=${deployment.masterName}`,
        data: clientTls(),
        sentinels: clientTls(),
        where: new RegExp(`sentinel 127\\.0\\.0\\.1:${EXPIRED_SENTINEL_PORT}: `),
        cause: /the server's certificate has expired \(CERT_HAS_EXPIRED\)/,
      },
    ];
    try {
      for (const { what, url, data, sentinels, where, cause } of cases) {
        const { logger, lines } = captureLogger();
        const backend = createRedisBackend(url ?? deployment.url(), { ...backendOptions(data, sentinels), logger });
        try {
          const error = await backend.storeResult(meta(randomUUID(), 'SUCCESS', what), {}).then(
            () => assert.fail(`stored despite ${what}`),
            (err: unknown) => err,
          );
          assert.ok(error instanceof BackendError, `${what}: ${String(error)}`);
          assert.match(error.message, where, what);
          assert.match(error.message, cause, what);
          assert.ok(!error.message.includes(PASSWORD));
          assert.ok(
            lines.some((line) => line.startsWith('error:') && where.test(line) && cause.test(line)),
            `${what}: an error log line naming the server and the cause\n${lines.join('\n')}`,
          );
        } finally {
          await backend.close();
        }
      }
    } finally {
      await deployment.kill(EXPIRED_SENTINEL_PORT);
    }
  });

  it('a plain-text sentinel given TLS settings: refused, said as such, and never asked in plain text', async () => {
    await deployment.startOddSentinel(PLAIN_SENTINEL_PORT);
    const url = `sentinel://:${PASSWORD}@127.0.0.1:${PLAIN_SENTINEL_PORT}/0?master_name=${deployment.masterName}`;
    const backend = createRedisBackend(url, backendOptions(clientTls(), clientTls()));
    try {
      const error = await backend.storeResult(meta(randomUUID(), 'SUCCESS', 'plain'), {}).then(
        () => assert.fail('stored through a plain-text sentinel'),
        (err: unknown) => err,
      );
      assert.ok(error instanceof BackendError, String(error));
      assert.match(error.message, new RegExp(`sentinel 127\\.0\\.0\\.1:${PLAIN_SENTINEL_PORT} does not speak TLS`));
      assert.match(error.message, /a plain-text port given TLS settings; it is not used in plain text/);
      // It was never asked for the primary (the diagnosis's own probe sends it one PING in plain text).
      const plain = new Redis({ port: PLAIN_SENTINEL_PORT, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
      plain.on('error', () => undefined);
      try {
        await plain.connect();
        const stats = await plain.info('commandstats');
        assert.doesNotMatch(stats, /get-master-addr-by-name/, stats);
      } finally {
        plain.disconnect();
      }
    } finally {
      await backend.close();
      await deployment.kill(PLAIN_SENTINEL_PORT);
    }
  });

  it(
    'the primary SIGKILLed under a load of tasks with results and chords: the replica is promoted, ' +
      'workers and producers follow over TLS',
    { timeout: 120_000 },
    async (t) => {
      const TASKS = 600;
      const CHORDS = 12;
      const CHORD_SIZE = 5;
      const chordLedger = join(tmpdir(), `celeriac-tls-chords-${randomUUID()}.jsonl`);
      const w = new Workload({
        appModule: SENTINEL_APP,
        backend: deployment.url(),
        checker: deployment.primaryClient({ maxRetriesPerRequest: 2 }),
        producerOptions: { backendTls: clientTls(), resultBackendTransportOptions: { sentinelTls: clientTls() } },
      });
      let failOver: Awaited<ReturnType<SentinelDeployment['killPrimary']>> | undefined;
      const successTimes: number[] = [];
      try {
        for (const name of ['t1', 't2']) {
          const worker = await w.startWorker(name, ['-c', '8'], { ...tlsEnvironment(), SENTINEL_CHORD_LEDGER: chordLedger });
          Workload.recordSuccessTimes(worker, successTimes);
        }
        const producer: App = w.producer;
        // Each task sleeps 100 ms, so with 16 slots the load runs about 4 s and outlasts the fail-over.
        const sending = w.send(TASKS, 100, 25);
        const chordResults: { id: string; get: () => Promise<unknown> }[] = [];
        const chordsSent = (async () => {
          for (let c = 0; c < CHORDS; c++) {
            const header = Array.from({ length: CHORD_SIZE }, (_, i) => new Signature({ task: 'sentinel.part', args: [i, 5] }, producer));
            const body = new Signature({ task: 'sentinel.sum', args: [] }, producer);
            // The producer stores the chord's size in Redis: while the primary is down this fails, and is sent again.
            for (;;) {
              try {
                const result = await chord(header, body).applyAsync();
                chordResults.push({ id: result.id, get: () => result.get({ timeout: 60_000 }) });
                break;
              } catch (error) {
                if (!(error instanceof BackendError)) throw error;
                await new Promise((resolve) => setTimeout(resolve, 200));
              }
            }
            await new Promise((resolve) => setTimeout(resolve, 150));
          }
        })();
        await waitFor(() => w.executions().length >= TASKS / 3, `${TASKS / 3} runs`, 60_000, 20);
        failOver = await deployment.killPrimary();
        const { killedAt, promotionMs } = failOver;
        await failOver.restore();
        const restoredMs = Date.now() - killedAt;
        await Promise.all([sending, chordsSent]);
        const report = await w.settle(60_000);
        // The producer reads every chord's result over TLS from the promoted primary.
        const sums = await Promise.all(chordResults.map((result) => result.get()));

        const done = w.reportedDone();
        const inRedis = await w.storedSuccess(done);
        const lostResults = [...done].filter((id) => !inRedis.has(id));
        const runs = new Map<string, number>();
        for (const body of readJsonLines<ChordBodyRecord>(chordLedger)) runs.set(body.id, (runs.get(body.id) ?? 0) + 1);
        const chordDuplicates = [...runs.values()].reduce((n, count) => n + count - 1, 0);
        const resumedAt = successTimes.find((at) => at > killedAt + promotionMs);
        const resumed = resumedAt === undefined ? 'never' : `${resumedAt - killedAt} ms after the SIGKILL`;
        t.diagnostic(`checker: ${Workload.summary(report)}`);
        t.diagnostic(
          `fail-over over TLS: promotion ${promotionMs} ms after the SIGKILL (${failOver.old} -> ${failOver.promoted}); ` +
            `first result stored after it ${resumed}; old primary back as a replica after ${restoredMs} ms`,
        );
        t.diagnostic(
          `lost tasks ${report.lost.length} of ${report.confirmed}; tasks run twice ${report.duplicated}; ` +
            `results acknowledged then lost ${lostResults.length} of ${done.size}; chords answered ${sums.length} of ${CHORDS}, ` +
            `bodies run twice ${chordDuplicates}`,
        );
        for (const line of w.linesAbout(report.lost)) t.diagnostic(line);

        assert.deepEqual(report.lost, [], 'every confirmed task completed');
        assert.deepEqual(report.unexpected, []);
        assert.ok(resumedAt !== undefined, 'workers stored results on the promoted replica');
        assert.deepEqual(sums, Array(CHORDS).fill(10), 'every chord completed with its sum');
        for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
        // The workers named the fail-over in their logs, and never a password.
        const output = w.workers.map((worker) => worker.output()).join('\n');
        assert.ok(!output.includes(PASSWORD), "no password in the workers' logs");
      } finally {
        await w.close();
        rmSync(chordLedger, { force: true });
        await failOver?.restore();
      }
    },
  );
});
