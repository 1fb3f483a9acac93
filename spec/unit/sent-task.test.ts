import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createMemoryBackend } from '../../lib/backends/memory-backend.js';
import { PublishError, ResultTimeoutError } from '../../lib/errors/errors.js';
import { silentLogger } from '../../lib/log/logger.js';
import { AsyncResult } from '../../lib/result/async-result.js';
import { SentTask } from '../../lib/result/sent-task.js';
import { meta, unconfirmedSend } from '../conformance/backend.conformance.js';

describe('SentTask.get()', () => {
  const backend = createMemoryBackend(`memory://sent-task-${randomUUID()}`, { resultExpiresMs: 60_000, logger: silentLogger() });

  it('settles with the outcome as soon as it is stored, before the send is confirmed', { timeout: 10_000 }, async () => {
    const id = randomUUID();
    const result = new AsyncResult<number>(id, () => backend);
    const send = unconfirmedSend();
    const sentTask = new SentTask(result, send.sending);
    const value = sentTask.get({ timeout: '10s' });
    await backend.storeResult(meta(id, 'SUCCESS', 42), {});
    assert.equal(await value, 42);
    send.confirm();
    assert.equal(await sentTask, result);
  });

  it('rejects with the send error when the send fails before any outcome', async () => {
    const id = randomUUID();
    const result = new AsyncResult<number>(id, () => backend);
    const send = unconfirmedSend();
    const value = new SentTask(result, send.sending).get({ timeout: '1h' });
    send.fail(new PublishError('nacked', 'the broker nacked it'));
    await assert.rejects(value, (error: unknown) => error instanceof PublishError && error.message === 'the broker nacked it');
  });

  it('keeps waiting for the outcome after the send is confirmed, up to its timeout', async () => {
    const id = randomUUID();
    const result = new AsyncResult<number>(id, () => backend);
    const send = unconfirmedSend();
    const value = new SentTask(result, send.sending).get({ timeout: 50 });
    send.confirm();
    await assert.rejects(value, (error: unknown) => error instanceof ResultTimeoutError);
  });
});
