import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createMemoryBackend } from '../../lib/backends/memory-backend.js';
import type { BackendOptions } from '../../lib/backends/result-backend.js';
import { silentLogger } from '../../lib/log/logger.js';
import { describeBackendConformance, meta } from '../conformance/backend.conformance.js';
import { describeStoreConformance } from '../conformance/store.conformance.js';

function options(resultExpiresMs = 86_400_000): BackendOptions {
  return { resultExpiresMs, logger: silentLogger() };
}

describeBackendConformance('memory://', (overrides) => createMemoryBackend('memory://', options(overrides?.resultExpiresMs)));

describeStoreConformance('memory://', () => createMemoryBackend('memory://', options()));

describe('memory:// backend', () => {
  it('shares results between instances with the same URL, and only those', async () => {
    const url = `memory://shared-${randomUUID()}`;
    const producer = createMemoryBackend(url, options());
    const worker = createMemoryBackend(url, options());
    const stranger = createMemoryBackend(`memory://other-${randomUUID()}`, options());
    try {
      const id = randomUUID();
      const waiting = producer.waitForReady(id, { timeoutMs: 10_000 });
      await worker.storeResult(meta(id, 'SUCCESS', 'across'), {});
      assert.deepEqual(await waiting, meta(id, 'SUCCESS', 'across'));
      assert.deepEqual(await producer.getMeta(id), meta(id, 'SUCCESS', 'across'));
      assert.equal((await stranger.getMeta(id)).status, 'PENDING');
    } finally {
      await Promise.all([producer.close(), worker.close(), stranger.close()]);
    }
  });

  it('keeps the shared results when one instance closes', async () => {
    const url = `memory://survivor-${randomUUID()}`;
    const first = createMemoryBackend(url, options());
    const id = randomUUID();
    await first.storeResult(meta(id, 'SUCCESS', 1), {});
    await first.close();
    const second = createMemoryBackend(url, options());
    try {
      assert.deepEqual(await second.getMeta(id), meta(id, 'SUCCESS', 1));
    } finally {
      await second.close();
    }
  });

  it('keeps results forever when resultExpiresMs is 0', async () => {
    const backend = createMemoryBackend(`memory://forever-${randomUUID()}`, options(0));
    try {
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 'kept'), {});
      assert.equal((await backend.getMeta(id)).status, 'SUCCESS');
    } finally {
      await backend.close();
    }
  });
});
