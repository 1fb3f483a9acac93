import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { TASK_KEY_PREFIX } from '../../lib/backends/key-value-backend.js';
import { createRedisBackend, REVOKED_KEY } from '../../lib/backends/redis/redis-backend.js';
import type { BackendOptions, ResultBackend } from '../../lib/backends/result-backend.js';
import { beatStoreOf } from '../../lib/beat/store.js';
import { silentLogger } from '../../lib/log/logger.js';
import { BackendError, chord, createApp, Signature, type App } from '../../lib/index.js';
import { describeBackendConformance, meta } from '../conformance/backend.conformance.js';
import { describeStoreConformance } from '../conformance/store.conformance.js';
import { AMQP_URL, removeAppQueues, uniqueName } from '../support/apps.js';
import { captureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/faults.js';
import { readJsonLines } from '../support/json-lines.js';
import { Workload } from '../support/loss-checker.js';
import { shareResultsWithCelery } from '../support/celery-results-peer.js';
import { PRIMARY_PORT, REPLICA_PORT, SENTINEL_PORTS, SentinelDeployment } from '../support/redis-sentinel.js';
import type { ChordBodyRecord } from '../support/sentinel-app.js';

/**
 * The Redis backend through Redis Sentinel (sentinel://), on a deployment of its own
 * (spec/support/redis-sentinel.ts: primary 6391, replica 6392, sentinels 26391-26393), with
 * passwords on the data nodes and on the sentinels. Fail-overs are real: the primary is
 * SIGKILLed, the sentinels promote the replica, and the killed node is started again as a
 * replica of the new primary before the next test.
 */
const PASSWORD = 'data-secret-7d41';
const SENTINEL_PASSWORD = 'sentinel-secret-2b9e';
const SENTINEL_APP = new URL('../support/sentinel-app.js', import.meta.url).pathname;
const DAY_MS = 86_400_000;

const deployment = new SentinelDeployment({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });

before(() => deployment.start(), { timeout: 60_000 });
after(() => deployment.stop());

function backendOptions(waitForReplicas: BackendOptions['waitForReplicas'] = null): BackendOptions {
  return { resultExpiresMs: DAY_MS, logger: silentLogger(), connection: { sentinelPassword: SENTINEL_PASSWORD }, waitForReplicas };
}

/** The current primary's port, once the sentinels agree on it (and see its replica). */
function currentPrimary(): Promise<number> {
  return deployment.waitUntilAgreed(60_000);
}

/** The port of the data node that is not `primary`. */
function otherNode(primary: number): number {
  return primary === PRIMARY_PORT ? REPLICA_PORT : PRIMARY_PORT;
}

/** SIGKILLs the current primary; see SentinelDeployment.killPrimary. */
function killPrimary(): ReturnType<SentinelDeployment['killPrimary']> {
  return deployment.killPrimary();
}

/** A client of the current primary, found through the sentinels (disconnect it after use). */
function primaryClient(): Redis {
  return deployment.primaryClient();
}

/** Resolves once Redis counts a subscriber on the task's channel (the conformance suite's probe). */
async function subscribedOnServer(_backend: ResultBackend, taskId: string): Promise<void> {
  const client = primaryClient();
  try {
    await waitFor(
      async () => {
        const [, count] = (await client.pubsub('NUMSUB', `${TASK_KEY_PREFIX}${taskId}`)) as [string, number];
        return count > 0;
      },
      `a subscriber on ${taskId}`,
      10_000,
      20,
    );
  } finally {
    client.disconnect();
  }
}

// The backend contract and the stores beside the results, through the sentinels, every write
// acknowledged by the replica (WAIT).
const WAIT_ONE = { replicas: 1, timeoutMs: 2_000 };
describeBackendConformance(
  'sentinel:// with WAIT',
  (overrides) =>
    createRedisBackend(deployment.url(), { ...backendOptions(WAIT_ONE), resultExpiresMs: overrides?.resultExpiresMs ?? DAY_MS }),
  { subscribed: subscribedOnServer },
);
describeStoreConformance('sentinel:// with WAIT', () => createRedisBackend(deployment.url(), backendOptions(WAIT_ONE)), {
  unreachable: () => createRedisBackend(`sentinel://127.0.0.1:1/0?master_name=${deployment.masterName}`, backendOptions()),
});

describe('cluster: Redis Sentinel', () => {
  it('Python Celery 5.2.6, configured as Celery users write it, shares results with celeriac through the sentinels', async () => {
    const backend = createRedisBackend(deployment.url(), backendOptions({ replicas: 1, timeoutMs: 2_000 }));
    try {
      // Celery's form: the list without master_name, the primary's name and the sentinels' password in transport options.
      const script = [
        'import json, sys',
        'from celery import Celery',
        'app = Celery("sentinel-spec", broker="memory://", backend=sys.argv[1])',
        'app.conf.result_backend_transport_options = {"master_name": sys.argv[2], "sentinel_kwargs": {"password": sys.argv[3]}}',
        'print(json.dumps(app.AsyncResult(sys.argv[-2]).get(timeout=20)))',
        'app.backend.store_result(sys.argv[-1], {"from": "python"}, "SUCCESS")',
      ];
      await shareResultsWithCelery(backend, script, [deployment.url(0, false), deployment.masterName, SENTINEL_PASSWORD]);
    } finally {
      await backend.close();
    }
  });

  it(
    'results, chords, revocations, beat lock and redelivery counts through Sentinel; a producer waiting on a result follows a fail-over',
    { timeout: 180_000 },
    async (t) => {
      const { logger, lines } = captureLogger();
      // The list as an array, the master name and the sentinels' password as options (celeriac's spelling).
      const app = createApp({
        broker: AMQP_URL,
        backend: SENTINEL_PORTS.map((port, i) => `sentinel://${i === 0 ? `:${PASSWORD}@` : ''}127.0.0.1:${port}/0`),
        resultBackendTransportOptions: { masterName: deployment.masterName, sentinelPassword: SENTINEL_PASSWORD },
        defaultQueue: uniqueName('sentinel'),
        brokerConnectionMaxRetries: 3,
        logger,
      });
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let heldStarted = false;
      const add = app.task('sentinel.add', (a: number, b: number) => a + b);
      const addAll = app.task('sentinel.add-all', (values: number[]) => values.reduce((a, b) => a + b, 0));
      const held = app.task('sentinel.held', async () => {
        heldStarted = true;
        await released;
        return 'after the fail-over';
      });
      const worker = app.worker({ concurrency: 4 });
      const replica = deployment.dataClient(otherNode(await currentPrimary()));
      let failOver: Awaited<ReturnType<typeof killPrimary>> | undefined;
      try {
        await worker.start();
        assert.equal(await (await add.delay(2, 3)).get({ timeout: 30_000 }), 5);
        const sum = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], addAll.s()).applyAsync();
        assert.equal(await sum.get({ timeout: 30_000 }), 12);

        const backend = app.backend as Required<ResultBackend>;
        const revoked = randomUUID();
        await backend.addRevocations([revoked], Date.now() + 3_600_000);
        const beat = beatStoreOf(backend, uniqueName('beat'))!;
        assert.equal(await beat.lead('leader', 120_000), true);
        assert.equal(await beat.recordRun('leader', 'every-minute', 1_000), true);
        const counted = randomUUID();
        assert.equal(await backend.countRedeliveredStarts(counted, 1), 1);
        const stored = await add.delay(20, 22);
        assert.equal(await stored.get({ timeout: 30_000 }), 42);
        // Everything written went to the primary and reached the replica.
        await replica.connect();
        await waitFor(
          async () =>
            (await replica.exists(`${TASK_KEY_PREFIX}${stored.id}`, `celeriac-redelivered-starts-${counted}`)) === 2 &&
            (await replica.zscore(REVOKED_KEY, revoked)) !== null,
          'the writes on the replica',
          30_000,
        );

        // A producer waiting on a result when the primary dies gets it from the promoted replica.
        const pending = await held.delay();
        const waiting = pending.get({ timeout: 120_000 });
        await waitFor(() => heldStarted, 'the held task to start', 30_000);
        failOver = await killPrimary();
        t.diagnostic(`primary ${failOver.old} killed; the sentinels promoted ${failOver.promoted} after ${failOver.promotionMs} ms`);
        release();
        assert.equal(await waiting, 'after the fail-over');

        // The stores written before the fail-over are there, and work, on the new primary.
        assert.ok((await backend.listRevocations()).has(revoked));
        assert.equal(await beat.lead('standby', 120_000), false, 'the lock is still held by its leader');
        assert.equal(await beat.lastRun('every-minute'), 1_000);
        assert.equal(await backend.countRedeliveredStarts(counted, 1), 2);
        assert.equal(await (await add.delay(4, 4)).get({ timeout: 30_000 }), 8);
        const again = await chord([add.s(5, 5), add.s(6, 6)], addAll.s()).applyAsync();
        assert.equal(await again.get({ timeout: 30_000 }), 22);
        await beat.release('leader');

        const text = lines.join('\n');
        for (const line of lines.filter((l) => /Sentinel|sentinel \d|connected again/.test(l))) t.diagnostic(line);
        assert.match(text, new RegExp(`Sentinel primary 'mymaster' is 127\\.0\\.0\\.1:${failOver.old}\\b`));
        assert.match(
          text,
          new RegExp(`Sentinel primary 'mymaster' is now 127\\.0\\.0\\.1:${failOver.promoted} \\(was 127\\.0\\.0\\.1:${failOver.old}\\)`),
        );
        assert.match(text, /sentinel:\/\/:\*\*\*@127\.0\.0\.1:26391\/0;sentinel:\/\/127\.0\.0\.1:26392\/0/);
        assert.ok(!text.includes(PASSWORD) && !text.includes(SENTINEL_PASSWORD), 'no password in any log line');
      } finally {
        release();
        replica.disconnect();
        await worker.stop();
        await removeAppQueues(app);
        await app.close();
        await failOver?.restore();
      }
    },
  );

  it('a fail-over the primary survives (SENTINEL FAILOVER): writes follow the promoted replica', { timeout: 120_000 }, async (t) => {
    const { logger, lines } = captureLogger();
    const backend = createRedisBackend(deployment.url(), { ...backendOptions(), logger });
    const old = await currentPrimary();
    let stored = 0;
    const refused: unknown[] = [];
    let writing = true;
    const writes = (async () => {
      while (writing) {
        try {
          await backend.storeResult(meta(randomUUID(), 'SUCCESS', stored), {});
          stored++;
        } catch (error) {
          refused.push(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const sentinel = deployment.sentinelClient(SENTINEL_PORTS[0]);
    try {
      await waitFor(() => stored > 50, 'writes before the fail-over', 30_000);
      await sentinel.connect();
      await sentinel.call('SENTINEL', 'FAILOVER', deployment.masterName);
      const promoted = await deployment.waitForFailover(old, 60_000);
      // The old primary lives on as the new one's replica.
      assert.equal(await currentPrimary(), promoted);
      const before = stored;
      await waitFor(() => stored > before + 50, 'writes after the fail-over', 30_000);
      const after = randomUUID();
      await backend.storeResult(meta(after, 'SUCCESS', 'after'), {});
      const direct = deployment.dataClient(promoted);
      await direct.connect();
      assert.ok((await direct.get(`${TASK_KEY_PREFIX}${after}`)) !== null, 'written on the promoted replica');
      direct.disconnect();
      const first = refused.length > 0 ? ` (the first: ${(refused[0] as Error).message})` : '';
      t.diagnostic(`SENTINEL FAILOVER under a store every 5 ms: ${stored} stored, ${refused.length} refused during the switch${first}`);
      for (const error of refused) assert.ok(error instanceof BackendError, String(error));
      assert.match(
        lines.join('\n'),
        new RegExp(`Sentinel primary 'mymaster' is now 127\\.0\\.0\\.1:${promoted} \\(was 127\\.0\\.0\\.1:${old}\\)`),
      );
    } finally {
      writing = false;
      await writes;
      sentinel.disconnect();
      await backend.close();
    }
  });

  it(
    'the asynchronous window: a fail-over loses writes the primary acknowledged and no replica had; ' +
      'with WAIT none is acknowledged before a replica has it',
    { timeout: 180_000 },
    async (t) => {
      const STORES = 50;
      for (const wait of [false, true]) {
        const backend = createRedisBackend(deployment.url(), backendOptions(wait ? { replicas: 1, timeoutMs: 500 } : null));
        const direct = deployment.dataClient(await currentPrimary());
        let failOver: Awaited<ReturnType<typeof killPrimary>> | undefined;
        try {
          const chordId = randomUUID();
          await backend.setChordSize(chordId, 2);
          await backend.storeResult(meta(randomUUID(), 'SUCCESS', 'warm'), {});
          await direct.connect();
          await direct.call('WAIT', '1', '5000'); // the chord's size is on the replica
          // The replica loses its link and cannot come back (its password is refused from now on;
          // connections already open stay authenticated): what the primary acknowledges from
          // here on, no replica has — a replica lagging, or cut off, when the primary dies.
          await direct.call('CONFIG', 'SET', 'requirepass', `refused-${randomUUID()}`);
          await direct.call('CLIENT', 'KILL', 'TYPE', 'replica');
          const ids = Array.from({ length: STORES }, () => randomUUID());
          const settled = await Promise.allSettled([
            ...ids.map((id) => backend.storeResult(meta(id, 'SUCCESS', id), {})),
            backend.chordPartReturn({ groupId: chordId, groupIndex: 0, size: 2, taskId: 'part-0', state: 'SUCCESS', result: 1 }),
          ]);
          failOver = await killPrimary();
          // Back to a primary and a replica before reading: with WAIT a write needs a replica.
          await failOver.restore();
          const acknowledged = ids.filter((_, i) => settled[i].status === 'fulfilled');
          for (const outcome of settled) {
            if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof BackendError, String(outcome.reason));
          }
          const reader = primaryClient();
          let present: (string | null)[] = [];
          try {
            if (acknowledged.length > 0) present = await reader.mget(acknowledged.map((id) => `${TASK_KEY_PREFIX}${id}`));
          } finally {
            reader.disconnect();
          }
          const lost = acknowledged.filter((_, i) => present[i] === null);
          // The chord: what a redelivered header task does (a join not acknowledged is joined again), then the last part.
          const partAcknowledged = settled[STORES].status === 'fulfilled';
          if (!partAcknowledged) {
            await backend.chordPartReturn({ groupId: chordId, groupIndex: 0, size: 2, taskId: 'part-0', state: 'SUCCESS', result: 1 });
          }
          const completed = await backend.chordPartReturn({
            groupId: chordId,
            groupIndex: 1,
            size: 2,
            taskId: 'part-1',
            state: 'SUCCESS',
            result: 2,
          });
          t.diagnostic(
            `${wait ? 'with WAIT 1 500ms' : 'without WAIT'}: ${acknowledged.length} of ${STORES} results acknowledged in the window, ` +
              `${lost.length} of them lost in the fail-over; ` +
              `chord part ${partAcknowledged ? 'acknowledged' : 'refused (joined again after)'}, ` +
              `chord ${completed ? 'completed' : 'never completes (its first part was lost)'}; promotion ${failOver.promotionMs} ms`,
          );
          if (!wait) assert.ok(lost.length > 0, 'the window is open: without WAIT a fail-over loses acknowledged writes');
          if (wait) {
            assert.deepEqual(lost, [], 'no acknowledged result is lost');
            assert.deepEqual(
              completed?.map((part) => part.result),
              [1, 2],
            );
          }
        } finally {
          direct.disconnect();
          await backend.close();
          await failOver?.restore();
        }
      }
    },
  );

  for (const wait of [false, true]) {
    it(
      `fail-over under load ${wait ? 'with' : 'without'} WAIT: workers and producers follow the promoted replica` +
        (wait ? '; no acknowledged result is lost' : '; what is lost is measured'),
      { timeout: 240_000 },
      async (t) => {
        const TASKS = 3000;
        const CHORDS = 40;
        const CHORD_SIZE = 10;
        const chordLedger = join(tmpdir(), `celeriac-chords-${randomUUID()}.jsonl`);
        const waitOption = wait ? { resultBackendWaitForReplicas: { replicas: 1, timeout: '500ms' } } : {};
        const w = new Workload({
          appModule: SENTINEL_APP,
          backend: deployment.url(),
          checker: deployment.primaryClient({ maxRetriesPerRequest: 2 }),
          producerOptions: { resultBackendTransportOptions: { sentinelPassword: SENTINEL_PASSWORD }, ...waitOption },
        });
        const env = {
          SENTINEL_PASSWORD,
          SENTINEL_CHORD_LEDGER: chordLedger,
          ...(wait ? { SENTINEL_WAIT_REPLICAS: '1', SENTINEL_WAIT_TIMEOUT: '500ms' } : {}),
        };
        let failOver: Awaited<ReturnType<typeof killPrimary>> | undefined;
        let watching: NodeJS.Timeout | undefined;
        const successTimes: number[] = [];
        try {
          for (const name of ['s1', 's2']) {
            const worker = await w.startWorker(name, ['-c', '8'], env);
            Workload.recordSuccessTimes(worker, successTimes);
          }
          const producer: App = w.producer;
          // The producer waits on every result from the moment its send is confirmed (one subscriber
          // connection for all), and sends chords meanwhile. A wait begun while the primary is down
          // fails with BackendError once its SUBSCRIBE gives up; the producer then asks again.
          const stopWaiting = new AbortController();
          setMaxListeners(0, stopWaiting.signal); // one listener per waiting get()
          const answered = new Set<string>();
          const refused = new Set<string>();
          const watched = new Set<string>();
          const waits: Promise<unknown>[] = [];
          const watch = (id: string): void => {
            watched.add(id);
            waits.push(
              producer
                .asyncResult(id)
                .get({ signal: stopWaiting.signal })
                .then(
                  () => answered.add(id),
                  (error: unknown) => {
                    if (error instanceof BackendError) refused.add(id);
                  },
                ),
            );
          };
          const watchConfirmed = (): void => {
            for (const id of w.confirmed) if (!watched.has(id)) watch(id);
          };
          watching = setInterval(watchConfirmed, 50);
          const sending = w.send(TASKS, 5, 25);
          const chordIds: string[] = [];
          const chordsSent = (async () => {
            for (let c = 0; c < CHORDS; c++) {
              const header = Array.from({ length: CHORD_SIZE }, (_, i) => new Signature({ task: 'sentinel.part', args: [i, 5] }, producer));
              const body = new Signature({ task: 'sentinel.sum', args: [] }, producer);
              try {
                const result = await chord(header, body).applyAsync();
                chordIds.push(result.id);
                watch(result.id);
              } catch (error) {
                t.diagnostic(`chord ${c} not sent: ${(error as Error).message}`);
              }
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          })();
          await waitFor(() => w.executions().length >= TASKS / 3, `${TASKS / 3} runs`, 120_000, 20);
          watchConfirmed();
          const waitsBeforeKill = watched.size;
          failOver = await killPrimary();
          const { killedAt } = failOver;
          await failOver.restore();
          const restoredMs = Date.now() - killedAt;
          await Promise.all([sending, chordsSent]);
          clearInterval(watching);
          watchConfirmed();
          const report = await w.settle(120_000);
          for (const id of refused) watch(id);
          // Give the waits what is stored a moment to be read, then stop the ones still waiting.
          await waitFor(
            () => answered.size >= w.confirmed.size + chordIds.length,
            'every wait answered',
            wait ? 60_000 : 15_000,
            100,
          ).catch(() => undefined);
          stopWaiting.abort(new Error('stopped waiting'));
          await Promise.allSettled(waits);

          // Results a worker stored and acknowledged (it logs "succeeded" only then) that are gone from Redis.
          const done = w.reportedDone();
          const inRedis = await w.storedSuccess(done);
          const lostResults = [...done].filter((id) => !inRedis.has(id));
          const bodies = readJsonLines<ChordBodyRecord>(chordLedger);
          const chordRuns = new Map<string, number>();
          for (const body of bodies) chordRuns.set(body.id, (chordRuns.get(body.id) ?? 0) + 1);
          const chordsAnswered = chordIds.filter((id) => answered.has(id)).length;
          const chordDuplicates = [...chordRuns.values()].reduce((n, runs) => n + runs - 1, 0);
          const resumedAt = successTimes.find((at) => at > killedAt + failOver!.promotionMs);
          const unanswered = [...w.confirmed].filter((id) => !answered.has(id));

          t.diagnostic(`checker: ${Workload.summary(report)}`);
          t.diagnostic(
            `${wait ? 'with WAIT 1 500ms' : 'without WAIT'}: results acknowledged then lost ${lostResults.length} of ${done.size}; ` +
              `waits unanswered ${unanswered.length} of ${w.confirmed.size}; chords answered ${chordsAnswered} of ${chordIds.length}, ` +
              `bodies run twice ${chordDuplicates}; tasks run twice ${report.duplicated}`,
          );
          t.diagnostic(
            `producer: ${waitsBeforeKill} waits begun before the SIGKILL; ${refused.size} begun during the fail-over ` +
              'failed with BackendError and were asked again',
          );
          const resumed = resumedAt === undefined ? 'never' : `${resumedAt - killedAt} ms after the SIGKILL`;
          t.diagnostic(
            `fail-over: promotion ${failOver.promotionMs} ms after the SIGKILL; first result stored after it ${resumed}; ` +
              `old primary back as a replica after ${restoredMs} ms`,
          );
          for (const line of w.linesAbout(report.lost)) t.diagnostic(line);

          assert.deepEqual(report.lost, [], 'every confirmed task completed');
          assert.deepEqual(report.unexpected, []);
          assert.ok(resumedAt !== undefined, 'workers stored results on the promoted replica');
          for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
          if (wait) {
            assert.deepEqual(lostResults, [], 'no acknowledged result lost');
            assert.deepEqual(unanswered, [], 'every waiting producer got its result');
            assert.equal(chordsAnswered, chordIds.length, 'every chord completed');
          }
        } finally {
          clearInterval(watching);
          await w.close();
          rmSync(chordLedger, { force: true });
          await failOver?.restore();
        }
      },
    );
  }
});
