import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { chain, chord, createApp, group, type App } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL } from '../support/apps.js';
import { assertOneIdPerDueNoGap, beatSends } from '../support/beat-sends.js';
import { Workload } from '../support/loss-checker.js';
import {
  LEDGER,
  ROOT,
  SPEC_APP,
  clearLedger,
  compose,
  composeEnv,
  containers,
  docker,
  ensureWorkers,
  inspect,
  logs,
  phase,
  ready,
  until,
  workersReady,
} from './support/stack.js';

/**
 * The docker-compose deployment, up for real: docker/docker-compose.yml with the test profile
 * docker/compose.test.yml, on a private Docker daemon (`npm run test:compose` runs
 * docker/test/run.sh, which starts it, builds the images and runs this file). Real RabbitMQ,
 * Redis, workers and beat in containers; the spec talks to them from the host as a user's
 * producer would (AMQP_URL / REDIS_URL name the stack's ports). The phases run in order, each
 * on the stack the one before left.
 */

/** The loss checker of spec/reliability, reading the ledger the containers write (COMPOSE_SPEC_LEDGER). */
class StackWorkload extends Workload {
  override readonly ledger = LEDGER;
  constructor() {
    super({ producerOptions: { defaultQueue: 'celery' } });
  }
}

describe('docker-compose deployment', () => {
  let redis: Redis;
  let producer: App;
  /** Task ids of the walkthrough, whose results must survive `down` and `up`. */
  const walkthroughIds: string[] = [];

  before(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3, retryStrategy: () => 250 });
    redis.on('error', () => undefined);
    await phase('stack up (shipped app)', async () => {
      await compose(['down', '-v', '--remove-orphans']);
      await compose(['up', '-d']);
      await workersReady(1);
    });
    producer = createApp({
      name: 'compose-producer',
      broker: AMQP_URL,
      backend: REDIS_URL,
      brokerConnectionMaxRetries: null,
      brokerConnectionMaxDelay: '2s',
      logLevel: 'silent',
    });
  });

  after(async () => {
    await producer?.close().catch(() => undefined);
    redis?.disconnect();
  });

  it('the test profile keeps the shipped commands, health checks, restart policies and dependencies, but for the port flags', () => {
    type Service = {
      command?: string[];
      healthcheck?: unknown;
      restart?: string;
      depends_on?: unknown;
      init?: boolean;
      stop_grace_period?: string;
    };
    const read = (file: string) => parse(readFileSync(new URL(file, `file://${ROOT}`), 'utf8')) as { services: Record<string, Service> };
    const shipped = read('docker/docker-compose.yml').services;
    const test = read('docker/compose.test.yml').services;
    assert.deepEqual(Object.keys(test).sort(), Object.keys(shipped).sort());
    // Redis: the shipped command (its persistence) with the test's address added.
    assert.deepEqual(test.redis.command, [...shipped.redis.command!, '--bind', '127.0.0.1', '--port', '6389']);
    // Workers: the shipped command, metrics on a free port instead of 9808 (replicas share the host's ports).
    assert.deepEqual(
      test.worker.command,
      shipped.worker.command!.map((arg) => (arg === '9808' ? '0' : arg)),
    );
    for (const [name, service] of Object.entries(test)) {
      for (const key of ['restart', 'depends_on', 'init', 'stop_grace_period'] as const)
        assert.equal(service[key], undefined, `compose.test.yml overrides ${name}.${key}`);
      if (name !== 'redis') assert.equal(service.healthcheck, undefined, `compose.test.yml overrides ${name}'s health check`);
      if (name !== 'redis' && name !== 'worker') assert.equal(service.command, undefined, `compose.test.yml overrides ${name}'s command`);
    }
  });

  it("walkthrough: the example tasks, chain, group and chord, results in the stack's Redis", async () => {
    await phase('walkthrough', async () => {
      process.env.CELERIAC_BROKER_URL = AMQP_URL;
      process.env.CELERIAC_RESULT_BACKEND = REDIS_URL;
      const { app, add, multiply, addAll } = await import('../../lib/examples/tasks.js');
      app.logger.silent = true;
      try {
        const sum = await add.delay(2, 3);
        assert.equal(await sum.get({ timeout: '20s' }), 5);
        const product = await multiply.delay(6, 7);
        assert.equal(await product.get({ timeout: '20s' }), 42);
        assert.equal(await (await chain(multiply.s(2, 2), add.s(10)).applyAsync()).get({ timeout: '20s' }), 14);
        assert.deepEqual(await (await group(multiply.s(2, 2), multiply.s(3, 2)).applyAsync()).get({ timeout: '20s' }), [4, 6]);
        assert.equal(await (await chord([multiply.s(2, 2), multiply.s(3, 2)], addAll.s()).applyAsync()).get({ timeout: '20s' }), 10);
        walkthroughIds.push(sum.id, product.id);
        await redis.connect();
        for (const id of walkthroughIds) {
          const stored = JSON.parse((await redis.get(`celery-task-meta-${id}`)) ?? 'null') as { status: string } | null;
          assert.equal(stored?.status, 'SUCCESS', `result of ${id} in the stack's Redis`);
        }
      } finally {
        await app.close();
      }
    });
  });

  it("the worker's health check (celeriac inspect ping to its own node) answers inside its container", async () => {
    await phase('worker health check', async () => {
      const shipped = parse(readFileSync(new URL('docker/docker-compose.yml', `file://${ROOT}`), 'utf8')) as {
        services: { worker: { healthcheck: { test: string[] } } };
      };
      const [kind, command] = shipped.services.worker.healthcheck.test as [string, string];
      assert.equal(kind, 'CMD-SHELL');
      const [id] = await containers('worker');
      const out = await docker(['exec', id, 'sh', '-c', command.replaceAll('$$', '$')]); // compose's $$ is a literal $
      assert.match(out, /-> celeriac@\S+: OK[^]*1 node online/);
    });
  });

  it('up --scale worker=3: all three take tasks', async () => {
    await phase('scale to 3 (spec app)', async () => {
      composeEnv.CELERIAC_APP = SPEC_APP;
      clearLedger();
      const ids = await ensureWorkers(3);
      const results = await Promise.all(Array.from({ length: 36 }, () => producer.sendTask('compose.where', [300])));
      const ran = new Set(await Promise.all(results.map((r) => r.get({ timeout: '60s' }) as Promise<string>)));
      assert.deepEqual([...ran].sort(), [...ids].sort(), 'every worker container ran some of the tasks');
    });
  });

  it('docker kill of one worker under a load of 3000 tasks: none lost', async (t) => {
    await phase('kill a worker under load', async () => {
      const victim = (await ensureWorkers(3))[1];
      clearLedger();
      const workload = new StackWorkload();
      try {
        const sending = workload.send(3000, 10, 50);
        await until('600 tasks done before the kill', 120_000, async () => workload.executions().length >= 600);
        await docker(['kill', victim]);
        await sending;
        const report = await workload.settle(180_000);
        t.diagnostic(StackWorkload.summary(report));
        assert.equal(report.failed, 0, 'every send confirmed');
        assert.deepEqual(report.lost, []);
        assert.deepEqual(report.unexpected, []);
        assert.ok(report.executions >= 3000);
        const killed = await inspect(victim);
        t.diagnostic(
          `killed container: exit code ${killed.exitCode}, running ${killed.running}` +
            ' (docker kill is a manual stop: the restart policy leaves it down)',
        );
      } finally {
        await workload.close();
      }
    });
  });

  it('docker-compose stop drains: running tasks finish, the rest wait in the queue, nothing is lost', async (t) => {
    await phase('stop drains', async () => {
      const ids = await ensureWorkers(3);
      clearLedger();
      const workload = new StackWorkload();
      try {
        await workload.send(12, 4000);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // six running (3 × concurrency 2), six prefetched
        const stopAt = Date.now();
        await compose(['stop', 'worker']);
        const stopSeconds = (Date.now() - stopAt) / 1000;
        t.diagnostic(`docker-compose stop worker took ${stopSeconds.toFixed(1)} s`);
        for (const id of ids) {
          const state = await inspect(id);
          assert.equal(state.running, false);
          assert.equal(state.exitCode, 0, `${state.name} exited by itself after the warm shutdown (137 = SIGKILLed at the grace period)`);
          assert.match(await logs(id), /warm shutdown|shutting down|stopping/i);
        }
        const finishedDuringStop = workload.executions().filter((run) => run.started < stopAt);
        assert.ok(finishedDuringStop.length >= 1, 'the tasks running at the stop finished before the workers exited');
        await ensureWorkers(3);
        const report = await workload.settle(60_000);
        t.diagnostic(StackWorkload.summary(report));
        assert.deepEqual(report.lost, []);
        assert.equal(report.duplicated, 0, 'no task that was running at the stop ran again');
        t.diagnostic(
          `${finishedDuringStop.length} tasks finished during the stop; ` +
            `${report.executions - finishedDuringStop.length} waited in the queue`,
        );
      } finally {
        await workload.close();
      }
    });
  });

  it('restart policy: a worker whose process dies comes back by itself', async () => {
    await phase('restart policy', async () => {
      const ids = await ensureWorkers(3);
      const restartsBefore = new Map(await Promise.all(ids.map(async (id) => [id, (await inspect(id)).restartCount] as const)));
      await producer.sendTask('compose.crash', []);
      const restarted = await until('a worker container restarted', 60_000, async () => {
        for (const id of ids) if ((await inspect(id)).restartCount > restartsBefore.get(id)!) return id;
        return undefined;
      });
      await until('the restarted worker ready again', 60_000, () => ready(restarted));
      assert.match(await logs(restarted), /ready: queues[^]*ready: queues/, 'ready before and after the restart');
    });
  });

  it('beat: two containers, one leads, each due run is sent once and runs', async () => {
    await phase('beat (two replicas)', async () => {
      await ensureWorkers(3);
      const beats = await containers('beat');
      assert.equal(beats.length, 2, 'deploy.replicas: 2');
      const outputs = await Promise.all(beats.map((id) => logs(id)));
      assert.equal(outputs.filter((out) => /is the leader/.test(out)).length, 1, 'exactly one beat leads');
      const sent = beatSends('tick', 'compose.tick', ...outputs);
      assert.ok(sent.length >= 10, `beat sent ${sent.length} ticks`);
      const { idByDue, resent } = assertOneIdPerDueNoGap(sent);
      assert.equal(resent, 0, 'a due run was sent twice');
      const ids = [...idByDue.values()];
      await until('every tick sent ran', 60_000, async () => {
        const values = await redis.mget(ids.map((id) => `celery-task-meta-${id}`));
        return values.every((value) => value !== null && (JSON.parse(value) as { status: string }).status === 'SUCCESS');
      });
    });
  });

  it('beat fail-over: after docker kill of the leader the other takes over; no due run is skipped or sent under two ids', async (t) => {
    await phase('beat fail-over', async () => {
      const beats = await containers('beat');
      const outputs = await Promise.all(beats.map((id) => logs(id)));
      const leader = beats[outputs.findIndex((out) => /is the leader/.test(out))];
      const follower = beats.find((id) => id !== leader)!;
      try {
        await docker(['kill', leader]);
        const killedAt = Date.now();
        await until('the other beat leads (lock TTL 10 s)', 40_000, async () => /is the leader/.test(await logs(follower)));
        t.diagnostic(`the standby led ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
        await until('the new leader sends', 20_000, async () => beatSends('tick', 'compose.tick', await logs(follower)).length >= 3);
        const { resent } = assertOneIdPerDueNoGap(beatSends('tick', 'compose.tick', await logs(leader), await logs(follower)));
        if (resent > 0) t.diagnostic(`${resent} run(s) re-sent across the hand-over under the same task id`);
      } finally {
        await compose(['up', '-d']); // the killed beat again (a manual stop is not restarted by the policy)
      }
    });
  });

  it('down then up: queued tasks and stored results survive (volumes)', async (t) => {
    await phase('down, up: volumes keep state', async () => {
      clearLedger();
      const workload = new StackWorkload();
      try {
        await compose(['stop', 'worker']);
        await workload.send(200, 0);
        assert.equal((await producer.transport.messageCount('celery')) >= 200, true, '200 tasks wait in the queue');
        await compose(['down']);
        assert.deepEqual(await containers('rabbitmq', true), []);
        await compose(['up', '-d']);
        await workersReady(1);
        const report = await workload.settle(90_000);
        t.diagnostic(StackWorkload.summary(report));
        assert.deepEqual(report.lost, [], 'the queued tasks came back with the broker volume');
        for (const id of walkthroughIds) {
          const stored = JSON.parse((await redis.get(`celery-task-meta-${id}`)) ?? 'null') as { status: string } | null;
          assert.equal(stored?.status, 'SUCCESS', `result of ${id} kept in the Redis volume`);
        }
      } finally {
        await workload.close();
      }
    });
  });

  describe('bad input in the compose environment', () => {
    /** Recreates the worker service with `env` (compose variables) and returns its container once it restarted `restarts` times. */
    async function failingWorker(env: Record<string, string>, restarts: number): Promise<string> {
      await compose(['up', '-d', '--no-deps', 'worker'], env);
      const [id] = await containers('worker', true);
      return until(`the worker container restarted ${restarts} times`, 60_000, async () =>
        (await inspect(id)).restartCount >= restarts ? id : undefined,
      );
    }

    after(async () => {
      await compose(['up', '-d', '--no-deps', 'worker']);
    });

    it('a worker image without the app module says so, and restarts with backoff', async () => {
      await phase('bad input: missing app module', async () => {
        const id = await failingWorker({ CELERIAC_APP: '/app/tasks/missing.js' }, 2);
        assert.match(await logs(id), /--app: cannot load \/app\/tasks\/missing\.js: Cannot find module/);
      });
    });

    it('an empty or malformed broker URL names the option, and restarts with backoff', async () => {
      await phase('bad input: empty/malformed broker URL', async () => {
        let id = await failingWorker({ COMPOSE_SPEC_BROKER_URL: '' }, 2);
        assert.match(await logs(id), /broker: expected a non-empty string, got ""/);
        id = await failingWorker({ COMPOSE_SPEC_BROKER_URL: 'rabbitmq:5672' }, 2);
        assert.match(await logs(id), /unknown broker URL scheme "rabbitmq"/);
      });
    });

    it('an unreachable broker is retried with a growing delay, each attempt logged', async () => {
      await phase('bad input: unreachable broker', async () => {
        await compose(['up', '-d', '--no-deps', 'worker'], { COMPOSE_SPEC_BROKER_URL: 'amqp://guest:guest@127.0.0.1:5999' });
        const [id] = await containers('worker');
        const delays = await until('five retries logged', 60_000, async () => {
          const found = [
            ...(await logs(id)).matchAll(
              /broker amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5999 unreachable \(ECONNREFUSED\); retry (\d+) in ([\d.]+)s/g,
            ),
          ];
          return found.length >= 5 ? found.map((m) => Number(m[2])) : undefined;
        });
        assert.ok(Math.max(...delays) > Math.min(...delays), `the delay grows: ${delays.join(', ')} s`);
      });
    });
  });
});
