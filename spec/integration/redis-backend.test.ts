import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisBackend } from '../../lib/backends/redis/redis-backend.js';
import { TASK_KEY_PREFIX } from '../../lib/backends/key-value-backend.js';
import { PipelineWhenBusy } from '../../lib/backends/redis/pipeline-when-busy.js';
import type { BackendOptions, ResultBackend } from '../../lib/backends/result-backend.js';
import { BackendError } from '../../lib/errors/errors.js';
import { silentLogger } from '../../lib/log/logger.js';
import { describeBackendConformance, meta } from '../conformance/backend.conformance.js';
import { describeStoreConformance } from '../conformance/store.conformance.js';
import { redisVectors } from '../support/vectors.js';

const REDIS_URL = 'redis://127.0.0.1:6379/0';
const DAY_MS = 86_400_000;
const VECTORS = { entries: redisVectors() };

function options(resultExpiresMs = DAY_MS): BackendOptions {
  return { resultExpiresMs, logger: silentLogger() };
}

/** Rejects if `promise` has not settled within `ms`: a bound on a test, not a timing assertion. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await within(
    10_000,
    what,
    (async () => {
      while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
  );
}

/** A client of its own that asks Redis who is subscribed; opened on first use. */
let probe: Redis | undefined;
after(() => probe?.disconnect());

/** Resolves once Redis counts a subscriber on the task's channel: a PUBLISH from then on reaches it. */
async function subscribedOnServer(_backend: ResultBackend, taskId: string): Promise<void> {
  probe ??= new Redis(REDIS_URL);
  const client = probe;
  const channel = `${TASK_KEY_PREFIX}${taskId}`;
  await until(`a subscriber on ${channel}`, async () => {
    const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number];
    return count > 0;
  });
}

describeBackendConformance('redis://', (overrides) => createRedisBackend(REDIS_URL, options(overrides?.resultExpiresMs)), {
  subscribed: subscribedOnServer,
});

describeStoreConformance('redis://', () => createRedisBackend(REDIS_URL, options()), {
  unreachable: () => createRedisBackend('redis://127.0.0.1:1/0', options()),
});

describe('redis:// backend, Redis specifics', () => {
  let raw: Redis;
  const opened: ResultBackend[] = [];
  const open = (url = REDIS_URL, expiresMs = DAY_MS): ResultBackend => {
    const backend = createRedisBackend(url, options(expiresMs));
    opened.push(backend);
    return backend;
  };

  before(() => {
    raw = new Redis(REDIS_URL);
  });
  after(async () => {
    await Promise.all(opened.map((b) => b.close()));
    await raw.quit();
  });

  it('stores the exact JSON shape and field order Celery 5.2.6 writes', async () => {
    const vector = VECTORS.entries.chord_callback_result.value;
    const id = randomUUID();
    const expected = { ...vector, task_id: id };
    await open().storeResult(
      meta(id, 'SUCCESS', vector.result, { date_done: vector.date_done as string, parent_id: vector.parent_id as string }),
      {},
    );
    const stored = JSON.parse((await raw.get(`celery-task-meta-${id}`))!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(stored), Object.keys(expected));
    assert.deepEqual(stored, expected);

    const failure = VECTORS.entries.failure.value;
    const failedId = randomUUID();
    const failed = { ...failure, task_id: failedId } as Record<string, unknown>;
    await open().storeResult(meta(failedId, 'FAILURE', failed.result, failed), {});
    const storedFailure = JSON.parse((await raw.get(`celery-task-meta-${failedId}`))!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(storedFailure), Object.keys(failed));
    assert.deepEqual(storedFailure, failed);
  });

  it('puts group_id before parent_id, as Celery does, and omits both when unset', async () => {
    const id = randomUUID();
    await open().storeResult(meta(id, 'SUCCESS', 1, { parent_id: 'p', group_id: 'g' }), {});
    const keys = Object.keys(JSON.parse((await raw.get(`celery-task-meta-${id}`))!) as object);
    assert.deepEqual(keys, ['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'parent_id', 'task_id']);
    const bare = randomUUID();
    await open().storeResult(meta(bare, 'SUCCESS', 1, { parent_id: null, group_id: null }), {});
    const bareKeys = Object.keys(JSON.parse((await raw.get(`celery-task-meta-${bare}`))!) as object);
    assert.deepEqual(bareKeys, ['status', 'result', 'traceback', 'children', 'date_done', 'task_id']);
  });

  it('sets the TTL from resultExpiresMs (SETEX for whole seconds, PSETEX otherwise, none for 0)', async () => {
    const cases: [number, (pttl: number) => boolean][] = [
      [DAY_MS, (pttl) => pttl > DAY_MS - 60_000 && pttl <= DAY_MS],
      [90_500, (pttl) => pttl > 30_500 && pttl <= 90_500],
      [0, (pttl) => pttl === -1],
    ];
    for (const [expiresMs, ok] of cases) {
      const id = randomUUID();
      await open(REDIS_URL, expiresMs).storeResult(meta(id, 'SUCCESS', expiresMs), {});
      const pttl = await raw.pttl(`celery-task-meta-${id}`);
      assert.ok(ok(pttl), `resultExpiresMs ${expiresMs} gave PTTL ${pttl}`);
    }
  });

  it('publishes the stored value on the channel named by the key', async () => {
    const id = randomUUID();
    const key = `celery-task-meta-${id}`;
    const listener = new Redis(REDIS_URL);
    try {
      const message = new Promise<[string, string]>((resolve) => listener.on('message', (c: string, m: string) => resolve([c, m])));
      await listener.subscribe(key);
      await open().storeResult(meta(id, 'SUCCESS', 'published'), {});
      const [channel, value] = await within(5_000, 'the PUBLISH', message);
      assert.equal(channel, key);
      assert.equal(value, await raw.get(key));
    } finally {
      listener.disconnect();
    }
  });

  it('reads what Python Celery stored (the vectors), written raw into Redis', async () => {
    const backend = open();
    for (const name of ['success', 'failure', 'chord_callback_result']) {
      const { key, value } = VECTORS.entries[name];
      await raw.set(key, JSON.stringify(value), 'PX', 60_000);
      const taskId = key.slice('celery-task-meta-'.length);
      assert.deepEqual(await backend.getMeta(taskId), value, name);
      assert.deepEqual(await backend.waitForReady(taskId, { timeoutMs: 10_000 }), value, name);
    }
  });

  it('resolves a wait on a value stored and published the way Celery does it', async () => {
    const backend = open();
    const id = randomUUID();
    const key = `celery-task-meta-${id}`;
    const value = { ...VECTORS.entries.failure.value, task_id: id };
    const waiting = backend.waitForReady(id, { timeoutMs: 10_000 });
    await until('the subscription', async () => (await raw.pubsub('NUMSUB', key))[1] === 1);
    await raw.multi().setex(key, 86_400, JSON.stringify(value)).publish(key, JSON.stringify(value)).exec();
    assert.deepEqual(await waiting, value);
  });

  it('unsubscribes a key when its last waiter leaves, however it leaves', async () => {
    const backend = open();
    const id = randomUUID();
    const key = `celery-task-meta-${id}`;
    const subscribers = async (): Promise<unknown> => (await raw.pubsub('NUMSUB', key))[1];
    const controller = new AbortController();
    const timingOut = backend.waitForReady(id, { timeoutMs: 300 });
    const aborted = backend.waitForReady(id, { timeoutMs: 10_000, signal: controller.signal });
    const resolved = backend.waitForReady(id, { timeoutMs: 10_000 });
    await until('the subscription', async () => (await subscribers()) === 1);
    controller.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    await assert.rejects(timingOut, { code: 'CELERIAC_RESULT_TIMEOUT' });
    assert.equal(await subscribers(), 1, 'one waiter is left, so the key stays subscribed');
    await backend.storeResult(meta(id, 'SUCCESS', 'last'), {});
    await resolved;
    await until('the unsubscribe', async () => (await subscribers()) === 0);
  });

  it('keeps a key subscribed when a new waiter comes while its unsubscribe is still batched', async () => {
    const backend = open();
    const id = randomUUID();
    const key = `celery-task-meta-${id}`;
    const subscribers = async (): Promise<unknown> => (await raw.pubsub('NUMSUB', key))[1];
    const first = backend.waitForReady(id, { timeoutMs: 10_000, signal: AbortSignal.timeout(200) });
    await until('the subscription', async () => (await subscribers()) === 1);
    await assert.rejects(first);
    // The last waiter left: its unsubscribe is batched, and the next waiter arrives before it is sent.
    const second = backend.waitForReady(id, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await subscribers(), 1, 'still subscribed after the batched unsubscribes went out');
    await raw.publish(key, JSON.stringify(meta(id, 'SUCCESS', 'heard')));
    assert.equal((await second).result, 'heard');
    await until('the unsubscribe', async () => (await subscribers()) === 0);
  });

  it('uses the db number of the URL', async () => {
    const id = randomUUID();
    await open('redis://127.0.0.1:6379/3').storeResult(meta(id, 'SUCCESS', 'db3'), {});
    const db3 = new Redis('redis://127.0.0.1:6379/3');
    try {
      assert.equal(JSON.parse((await db3.get(`celery-task-meta-${id}`))!).result, 'db3');
      assert.equal(await raw.get(`celery-task-meta-${id}`), null);
      await db3.del(`celery-task-meta-${id}`);
    } finally {
      await db3.quit();
    }
  });

  it('still resolves a wait when the subscriber connection drops and a result lands in the gap', async () => {
    const proxy = await startProxy(6379);
    try {
      const backend = open(`redis://127.0.0.1:${proxy.port}/0`);
      const id = randomUUID();
      const key = `celery-task-meta-${id}`;
      const waiting = backend.waitForReady(id, { timeoutMs: 15_000 });
      await until('the subscription', async () => (await raw.pubsub('NUMSUB', key))[1] === 1);
      proxy.dropAll();
      await until('the subscriber to drop', async () => (await raw.pubsub('NUMSUB', key))[1] === 0);
      // Written directly, while no subscriber listens: only the re-read after reconnect sees it.
      const value = JSON.stringify({ ...meta(id, 'SUCCESS', 'in the gap'), task_id: id });
      await raw.multi().setex(key, 60, value).publish(key, value).exec();
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 'in the gap'));
    } finally {
      await proxy.close();
    }
  });

  it('fails with BackendError naming host:port, never the password, when Redis is unreachable', async () => {
    const backend = open('redis://:secret@127.0.0.1:1/0');
    assert.ok(!backend.url.includes('secret'));
    const id = randomUUID();
    const check = (err: unknown): true => {
      assert.ok(err instanceof BackendError, String(err));
      assert.equal(err.code, 'CELERIAC_BACKEND');
      assert.match(err.message, /127\.0\.0\.1:1\b/);
      assert.ok(!err.message.includes('secret'), err.message);
      assert.ok(!err.url.includes('secret'), err.url);
      return true;
    };
    await within(20_000, 'getMeta to fail', assert.rejects(backend.getMeta(id), check));
    await within(20_000, 'storeResult to fail', assert.rejects(backend.storeResult(meta(id, 'SUCCESS', 1), {}), check));
    await within(20_000, 'waitForReady to fail', assert.rejects(backend.waitForReady(id, { timeoutMs: 60_000 }), check));
    await within(5_000, 'close', backend.close());
  });

  it('does no I/O until used, and closes an unused backend at once', async () => {
    const backend = createRedisBackend('redis://127.0.0.1:1/0', options());
    await within(1_000, 'close', backend.close());
  });
});

/** A TCP proxy to a local port whose connections a test can cut. */
async function startProxy(target: number): Promise<{ port: number; dropAll(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('PipelineWhenBusy (the Redis command connection)', () => {
  it('writes a lone command at once and pipelines the ones issued while others are pending, in call order', async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, enableAutoPipelining: true });
    const pipelining = new PipelineWhenBusy(client);
    try {
      await client.connect();
      const key = `spec:pipeline-when-busy:${randomUUID()}`;
      // Idle connection: the command goes out at once instead of waiting for the next tick's pipeline.
      const lone = pipelining.issue((c) => c.set(key, 'a'));
      assert.equal(client.autoPipelineQueueSize, 0);
      assert.equal(pipelining.outstanding, 1);
      assert.equal(await lone, 'OK');
      assert.equal(pipelining.outstanding, 0);
      // Issued together: the first at once, the rest in one pipeline, each seeing the writes before it.
      const together = [
        pipelining.issue((c) => c.append(key, 'b')),
        pipelining.issue((c) => c.append(key, 'c')),
        pipelining.issue((c) => c.get(key)),
      ];
      assert.equal(client.autoPipelineQueueSize, 2);
      assert.deepEqual(await Promise.all(together), [2, 3, 'abc']);
      await client.del(key);
    } finally {
      client.disconnect();
    }
  });
});
