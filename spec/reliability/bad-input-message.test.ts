import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { brotliCompressSync, deflateSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { TaskFailedError } from '../../lib/index.js';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_TRACEBACK_CHARS } from '../../lib/util/truncate.js';
import { takeMessages } from '../support/apps.js';
import { Workload } from '../support/loss-checker.js';

/**
 * Message edges against a real `celeriac worker` process (`-c 4`, Redis results), beside a
 * normal workload: dates that are not dates, compressed bodies (kombu's `compression` header),
 * a time limit longer than a Node timer, a result JSON cannot hold, and an error that would list
 * 10,000 argument names. Each either runs as it should or ends clearly — dead-lettered with its
 * reason, or recorded FAILURE with a bounded message — and the worker keeps running.
 */
describe('reliability: message edges', () => {
  const w = new Workload();
  after(() => w.close());

  const headers = (id: string, extra: Record<string, unknown> = {}) => ({
    lang: 'py',
    task: 'rel.work',
    id,
    retries: 0,
    timelimit: [null, null],
    root_id: id,
    ...extra,
  });
  const message = (id: string, body: Buffer, extra: Record<string, unknown> = {}): OutgoingMessage => ({
    body,
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: headers(id, extra),
    correlationId: id,
  });
  const work = (n: number, ms: number) =>
    Buffer.from(JSON.stringify([[n, ms], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]));

  type DeadCase = { what: string; reason: string; error: RegExp; message: (id: string) => OutgoingMessage };
  const dead: DeadCase[] = [
    {
      what: 'eta that is not a date',
      reason: 'headers',
      error: /header "eta" must be an ISO 8601 date-time/,
      message: (id) => message(id, work(-1, 0), { eta: 'tomorrow' }),
    },
    {
      what: 'expires that is not a date',
      reason: 'headers',
      error: /header "expires" must be an ISO 8601 date-time/,
      message: (id) => message(id, work(-2, 0), { expires: 'soon' }),
    },
    {
      what: 'bzip2-compressed body',
      reason: 'compression',
      error: /compression "application\/x-bz2" not supported/,
      message: (id) => message(id, Buffer.from('BZh91AY&SY'), { compression: 'application/x-bz2' }),
    },
    {
      what: 'lzma-compressed body',
      reason: 'compression',
      error: /compression "application\/x-lzma" not supported/,
      message: (id) => message(id, Buffer.from([0xfd, 0x37, 0x7a]), { compression: 'application/x-lzma' }),
    },
    // 80 MiB of zeros in about 80 KiB: over the worker's default maxMessageSize (64 MiB) once inflated.
    {
      what: 'zlib bomb',
      reason: 'too-large',
      error: /inflates to more than 67108864 bytes/,
      message: (id) => message(id, deflateSync(Buffer.alloc(80 * 1024 * 1024)), { compression: 'application/x-gzip' }),
    },
  ];

  it(
    'dead-letters non-dates and unsupported or oversized compression; runs zlib, brotli and 30-day limits;' +
      ' fails Map results and long errors clearly',
    async (t) => {
      const worker = await w.startWorker('edges', ['-c', '4']);
      const good = w.send(60, 5);
      const deadIds = new Map<string, DeadCase>();
      for (const c of dead) {
        const id = randomUUID();
        deadIds.set(id, c);
        await w.producer.transport.publish(c.message(id), { exchange: '', routingKey: w.queue });
      }
      // Bodies compressed as Python Celery compresses them (kombu's zlib is named application/x-gzip).
      const runs = new Map<string, number>();
      for (const [n, body, extra] of [
        [1001, deflateSync(work(1001, 0)), { compression: 'application/x-gzip' }],
        [1002, brotliCompressSync(work(1002, 0)), { compression: 'application/x-brotli' }],
        // A hard limit of 3,000,000 s (about 35 days) in the message, and 30 days in the option.
        [1003, work(1003, 300), { timelimit: [3_000_000, null] }],
      ] as const) {
        const id = randomUUID();
        runs.set(id, n);
        await w.producer.transport.publish(message(id, body, extra), { exchange: '', routingKey: w.queue });
      }
      const optionLimit = await w.producer.sendTask('rel.work', [1004, 300], {}, { timeLimit: '30d', softTimeLimit: '30d' });
      runs.set(optionLimit.id, 1004);
      const mapped = await w.producer.sendTask('rel.returns-map', [7]);
      const manyNames = await w.producer.sendTask(
        'rel.work',
        [],
        Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`argument_number_${i}`, i])),
      );
      await good;

      const letters = await takeMessages(w.producer.transport, `${w.queue}.dead-letter`, dead.length, 30_000);
      const byId = new Map(letters.map((d) => [d.properties.correlationId ?? '', d]));
      for (const [id, c] of deadIds) {
        const letter = byId.get(id);
        assert.ok(letter, `${c.what} was dead-lettered`);
        assert.equal(letter.properties.headers[DEAD_LETTER_HEADERS.reason], c.reason, c.what);
        assert.match(String(letter.properties.headers[DEAD_LETTER_HEADERS.error]), c.error, c.what);
      }
      for (const [id, n] of runs) assert.equal(await w.producer.asyncResult(id).get({ timeout: '20s' }), n, `task ${n} ran and succeeded`);

      const mapError = await mapped.get({ timeout: '10s' }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(mapError instanceof TaskFailedError, 'a Map result is a FAILURE, not {}');
      assert.equal(mapError.excType, 'SerializationError');
      assert.match(mapError.excMessage, /a Map at result cannot be written as JSON/);

      const namesError = await manyNames.get({ timeout: '10s' }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(namesError instanceof TaskFailedError);
      assert.equal(namesError.excType, 'TypeError');
      assert.match(namesError.excMessage, /got keyword arguments \(argument_number_0, .* and 9980 more\)/);
      assert.ok(namesError.excMessage.length <= MAX_ERROR_MESSAGE_CHARS, `exc_message of ${namesError.excMessage.length} chars`);
      assert.ok((namesError.traceback ?? '').length <= MAX_TRACEBACK_CHARS, `traceback of ${namesError.traceback?.length} chars`);

      const report = await w.settle(30_000);
      assert.deepEqual(report.lost, []);
      assert.equal(worker.child.exitCode, null, 'the worker is still running');
      assert.deepEqual(w.forbiddenLogLines(), []);
      assert.ok(!/TimeoutOverflowWarning/.test(worker.output()), 'no timer was clamped');
      t.diagnostic(
        `${dead.length} dead-lettered, ${runs.size} compressed or long-limit tasks run, 2 clear failures; ` +
          `${report.completed} normal tasks completed beside them`,
      );
    },
  );
});
