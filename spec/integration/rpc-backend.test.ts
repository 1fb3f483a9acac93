import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createRpcBackend } from '../../lib/backends/rpc/rpc-backend.js';
import type { ResultBackend } from '../../lib/backends/result-backend.js';
import type winston from 'winston';
import { silentLogger } from '../../lib/log/logger.js';
import { RPC_MAX_BUFFERED_RESULTS } from '../../lib/backends/rpc/result-buffer.js';
import { captureLogger } from '../support/capture-logger.js';
import { describeBackendConformance, meta } from '../conformance/backend.conformance.js';
import { describeCanvasBehaviour } from '../conformance/canvas.conformance.js';
import { describeWorkerBehaviour } from '../conformance/worker.conformance.js';
import { AMQP_URL, realApp } from '../support/apps.js';

/** rpc:// with a broker connection of its own, so closing the backend closes everything it opened. */
const RPC_URL = AMQP_URL.replace(/^amqp:/, 'rpc:');
const clientIds = new WeakMap<ResultBackend, string>();

function makeRpc(overrides: { resultExpiresMs?: number; logger?: winston.Logger } = {}): ResultBackend {
  const logger = overrides.logger ?? silentLogger();
  const clientId = `spec.rpc.${randomUUID()}`;
  const backend = createRpcBackend(RPC_URL, {
    resultExpiresMs: overrides.resultExpiresMs ?? 86_400_000,
    logger,
    clientId,
    transportOptions: {
      heartbeatSeconds: 30,
      confirmTimeoutMs: 10_000,
      connectMaxRetries: 3,
      connectInitialDelayMs: 100,
      connectMaxDelayMs: 1000,
      logger,
    },
  });
  clientIds.set(backend, clientId);
  return backend;
}

describeBackendConformance('rpc://', makeRpc, { storeContext: (backend) => ({ replyTo: clientIds.get(backend)! }), groups: false });

describe('rpc:// specifics', () => {
  it('delivers a result only to the client named by reply_to', async () => {
    const [mine, other] = [makeRpc(), makeRpc()];
    try {
      const id = randomUUID();
      await Promise.all([mine.getMeta(id), other.getMeta(id)]); // both consuming
      await other.storeResult(meta(id, 'SUCCESS', 'for mine'), { replyTo: clientIds.get(mine)! });
      assert.equal((await mine.waitForReady(id, { timeoutMs: 10_000 })).result, 'for mine');
      assert.equal((await other.getMeta(id)).status, 'PENDING', 'another client cannot read it');
    } finally {
      await Promise.all([mine.close(), other.close()]);
    }
  });

  it('keeps a result that arrives before anybody waits for it', async () => {
    const backend = makeRpc();
    try {
      const id = randomUUID();
      await backend.getMeta(randomUUID());
      await backend.storeResult(meta(id, 'SUCCESS', 'kept'), { replyTo: clientIds.get(backend)! });
      const waited = await backend.waitForReady(id, { timeoutMs: 10_000 });
      assert.equal(waited.result, 'kept');
      assert.equal((await backend.getMeta(id)).result, 'kept');
    } finally {
      await backend.close();
    }
  });

  it('past its buffer, drops results already taken without a word, and warns only when one nobody took goes', async () => {
    const { logger, lines } = captureLogger();
    const backend = makeRpc({ logger });
    const replyTo = clientIds.get(backend)!;
    const overflowWarnings = (): string[] => lines.filter((line) => line.includes('results nobody asked for'));
    try {
      await backend.getMeta(randomUUID()); // consuming
      const waited = Array.from({ length: RPC_MAX_BUFFERED_RESULTS + 500 }, () => randomUUID());
      const outcomes = waited.map((id) => backend.waitForReady(id, { timeoutMs: 60_000 }));
      await Promise.all(waited.map((id) => backend.storeResult(meta(id, 'SUCCESS', id), { replyTo })));
      assert.deepEqual(
        (await Promise.all(outcomes)).map((outcome) => outcome.result),
        waited,
      );
      assert.deepEqual(overflowWarnings(), [], 'every dropped result had been taken by its waiter');

      // Results that came before their get(), each then taken by a get() that found it kept:
      // 1,000 at a time, all arrived (getMeta waits for what the reply queue holds) before any get().
      for (let batch = 0; batch < 11; batch++) {
        const early = Array.from({ length: 1000 }, () => randomUUID());
        await Promise.all(early.map((id) => backend.storeResult(meta(id, 'SUCCESS', id), { replyTo })));
        await backend.getMeta(randomUUID());
        for (const id of early) assert.equal((await backend.waitForReady(id, { timeoutMs: 30_000 })).result, id);
      }
      assert.deepEqual(overflowWarnings(), [], 'a result read from the buffer counts as taken');

      const unasked = Array.from({ length: RPC_MAX_BUFFERED_RESULTS + 1 }, () => randomUUID());
      await Promise.all(unasked.map((id) => backend.storeResult(meta(id, 'SUCCESS', id), { replyTo })));
      const last = unasked[unasked.length - 1];
      assert.equal((await backend.waitForReady(last, { timeoutMs: 30_000 })).result, last);
      assert.equal(overflowWarnings().length, 1, lines.join('\n'));
      assert.equal((await backend.getMeta(unasked[0])).status, 'PENDING', 'the oldest result nobody took is gone');
    } finally {
      await backend.close();
    }
  });
});

describeWorkerBehaviour('amqp:// + rpc://', () => realApp({ backend: 'rpc://' }));
describeCanvasBehaviour('amqp:// + rpc://, two workers', () => realApp({ backend: 'rpc://' }), {
  workers: 2,
  chordSize: 10_000,
  groupSave: false,
});
