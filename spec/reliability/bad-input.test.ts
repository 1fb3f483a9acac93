import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Signature, TaskFailedError } from '../../lib/index.js';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { takeMessages } from '../support/apps.js';
import { Workload } from '../support/loss-checker.js';

/**
 * The bad-input matrix against a real `celeriac worker` process, all inputs interleaved with a
 * normal workload: every input ends in `<queue>.dead-letter` with its reason or as a FAILURE
 * result; the worker never exits and the normal tasks all complete. (Each reason is also
 * checked one at a time, in-process, by spec/conformance/worker.conformance.ts.)
 */
describe('reliability: bad input matrix', () => {
  const w = new Workload();
  after(() => w.close());

  type Case = { what: string; reason: string; message: (id: string) => OutgoingMessage };
  const headers = (id: string, extra: Record<string, unknown> = {}) => ({
    lang: 'py',
    task: 'rel.work',
    id,
    retries: 0,
    timelimit: [null, null],
    root_id: id,
    ...extra,
  });
  const json =
    (body: string | Buffer, extra: Record<string, unknown> = {}, contentType = 'application/json') =>
    (id: string): OutgoingMessage => ({
      body: Buffer.isBuffer(body) ? body : Buffer.from(body),
      contentType,
      contentEncoding: 'utf-8',
      headers: headers(id, extra),
      correlationId: id,
    });
  const cases: Case[] = [
    { what: 'truncated JSON', reason: 'decode', message: json('[[1, 2], {') },
    {
      what: 'JSON with invalid UTF-8',
      reason: 'decode',
      message: json(Buffer.from([0x5b, 0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d, 0x2c, 0x7b, 0x7d, 0x2c, 0x7b, 0x7d, 0x5d])),
    },
    {
      what: 'JSON with a lone surrogate byte sequence',
      reason: 'decode',
      message: json(Buffer.from([0x5b, 0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d, 0x2c, 0x7b, 0x7d, 0x2c, 0x7b, 0x7d, 0x5d])),
    },
    { what: 'malformed msgpack', reason: 'decode', message: json(Buffer.from([0x93, 0xc1]), {}, 'application/x-msgpack') },
    { what: 'pickle content type', reason: 'content-type', message: json('gASVAAAAAAAAAAA=', {}, 'application/x-python-serialize') },
    { what: 'no content type', reason: 'content-type', message: json('[[], {}, {}]', {}, '') },
    { what: 'no task header', reason: 'headers', message: json('[[], {}, {}]', { task: undefined }) },
    { what: 'retries header not a number', reason: 'headers', message: json('[[], {}, {}]', { retries: 'x' }) },
    { what: 'timelimit header of the wrong shape', reason: 'headers', message: json('[[], {}, {}]', { timelimit: 'soon' }) },
    { what: 'body an object', reason: 'body-shape', message: json('{"args": [1]}') },
    { what: 'body a two-element array', reason: 'body-shape', message: json('[[1], {}]') },
    { what: 'kwargs a list', reason: 'body-shape', message: json('[[1], [], {}]') },
    {
      what: 'embed with a signature that names no task',
      reason: 'body-shape',
      message: json('[[1, 0], {}, {"callbacks": [{"args": []}]}]'),
    },
    { what: 'unknown task', reason: 'unknown-task', message: json('[[1], {}, {}]', { task: 'rel.nowhere' }) },
  ];

  it(
    `dead-letters each of ${cases.length} malformed messages with its reason, ` + 'fails bad arguments clearly, and keeps running',
    async (t) => {
      const worker = await w.startWorker('bad', ['-c', '4']);
      const ids = new Map<string, Case>();
      const good = w.send(100, 5);
      for (const c of cases) {
        const id = randomUUID();
        ids.set(id, c);
        await w.producer.transport.publish(c.message(id), { exchange: '', routingKey: w.queue });
      }
      // A task that refuses its arguments, and a callback that points at a task nobody registered.
      const refused = await w.producer.sendTask('rel.picky', ['not a number']);
      const linked = await w.producer.sendTask('rel.work', [-3, 0], {}, { link: new Signature({ task: 'rel.missing', immutable: true }) });
      await good;

      const dead = await takeMessages(w.producer.transport, `${w.queue}.dead-letter`, cases.length + 1, 30_000);
      const byId = new Map(dead.map((d) => [d.properties.correlationId ?? '', d]));
      for (const [id, c] of ids) {
        const message = byId.get(id);
        assert.ok(message, `${c.what} was dead-lettered`);
        assert.equal(message.properties.headers[DEAD_LETTER_HEADERS.reason], c.reason, c.what);
        assert.ok(String(message.properties.headers[DEAD_LETTER_HEADERS.error]).length > 0);
      }
      const callback = dead.find((d) => d.properties.headers.task === 'rel.missing');
      assert.ok(callback, 'the callback to an unregistered task was dead-lettered');
      assert.equal(callback.properties.headers[DEAD_LETTER_HEADERS.reason], 'unknown-task');
      assert.equal(await linked.get({ timeout: '10s' }), -3);
      const error = await refused.get({ timeout: '10s' }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof TaskFailedError);
      assert.equal(error.excType, 'TypeError');
      assert.match(error.excMessage, /wants a number/);

      const report = await w.settle(30_000);
      assert.deepEqual(report.lost, []);
      assert.equal(worker.child.exitCode, null, 'the worker is still running');
      assert.deepEqual(w.forbiddenLogLines(), []);
      t.diagnostic(
        `bad inputs tried: ${cases.length + 2} (${cases.length} malformed messages, 1 rejected argument, 1 dangling callback); ` +
          `all accounted for; ${report.completed} normal tasks completed beside them`,
      );
    },
  );
});
