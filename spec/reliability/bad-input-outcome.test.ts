import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { SignatureDict } from '../../lib/protocol/task-message.js';
import { DEAD_LETTER_HEADERS } from '../../lib/worker/dead-letter.js';
import { takeMessages } from '../support/apps.js';
import { waitFor } from '../support/faults.js';
import { Workload } from '../support/loss-checker.js';

/**
 * Tasks whose outcome cannot be passed on, against real `celeriac worker` processes on RabbitMQ
 * and Redis: a task whose embedded workflow could never be sent does not run; one whose
 * callback fails to send, or whose result key Redis refuses (WRONGTYPE), runs once; each ends
 * in `<queue>.dead-letter` with its true reason, with or without a result backend. And a
 * suspect (redelivered after a worker died) runs beside a long task instead of stalling the
 * worker behind it.
 */
describe('reliability: outcomes that cannot be passed on', () => {
  let workload: Workload | undefined;
  afterEach(async () => {
    await workload?.close();
    workload = undefined;
  });

  const signature = (options: Record<string, unknown> = {}, extra: Partial<SignatureDict> = {}): SignatureDict => ({
    task: 'rel.work',
    args: [-1, 0],
    kwargs: {},
    options: { task_id: randomUUID(), ...options },
    subtask_type: null,
    immutable: true,
    ...extra,
  });
  const runsOf = (w: Workload, id: string): number => w.executions().filter((r) => r.id === id).length;

  it('each task runs at most once and is dead-lettered with its true reason; the worker goes on', async (t) => {
    const w = (workload = new Workload());
    const worker = await w.startWorker('outcome', ['-c', '4']);
    const good = w.send(100, 5);
    const unknownExchange = signature({ exchange: `spec.no-such-exchange.${randomUUID()}` });
    const cases: {
      what: string;
      reason: string;
      runs: number;
      embed?: Record<string, unknown>;
      raw?: string;
      rootId?: string;
      before?: (id: string) => Promise<unknown>;
    }[] = [
      { what: 'a callback with priority "high"', reason: 'embed', runs: 0, embed: { callbacks: [signature({ priority: 'high' })] } },
      { what: 'a callback with eta "garbage"', reason: 'embed', runs: 0, embed: { callbacks: [signature({ eta: 'garbage' })] } },
      {
        what: 'a callback with serializer "pickle"',
        reason: 'embed',
        runs: 0,
        embed: { callbacks: [signature({ serializer: 'pickle' })] },
      },
      {
        what: 'a callback that is a chord without header',
        reason: 'embed',
        runs: 0,
        embed: { callbacks: [signature({}, { task: 'celery.chord', subtask_type: 'chord', kwargs: { body: signature() } })] },
      },
      {
        what: 'a chain step whose tasks are not a list',
        reason: 'embed',
        runs: 0,
        embed: { chain: [signature({}, { task: 'celery.chain', subtask_type: 'chain', kwargs: { tasks: 7 } })] },
      },
      { what: 'a link nested 10,000 deep', reason: 'embed', runs: 0, raw: nestedLinks(10_000) },
      // Its callback would inherit the root id: a header table over 64 KiB, which amqplib refuses to encode.
      {
        what: 'a callback of a message whose root_id is 64,000 bytes',
        reason: 'embed',
        runs: 0,
        raw: JSON.stringify(signature()),
        rootId: 'r'.repeat(64_000),
      },
      { what: 'a callback to an exchange that does not exist', reason: 'workflow', runs: 1, embed: { callbacks: [unknownExchange] } },
      {
        what: 'a result key holding a list (WRONGTYPE)',
        reason: 'result-store',
        runs: 1,
        embed: {},
        before: (id) => w.redis.rpush(`celery-task-meta-${id}`, 'not a result'),
      },
    ];
    const byId = new Map<string, (typeof cases)[number]>();
    for (const c of cases) {
      const id = randomUUID();
      byId.set(id, c);
      w.attempted.set(id, -1); // sent, and expected in the dead-letter queue rather than completed
      await c.before?.(id);
      if (c.raw !== undefined) {
        const headers = { lang: 'py', task: 'rel.work', id, retries: 0, timelimit: [null, null], root_id: c.rootId ?? id };
        const body = Buffer.from(`[[-1, 0], {}, {"callbacks": [${c.raw}], "errbacks": null, "chain": null, "chord": null}]`);
        await w.producer.transport.publish(
          { body, contentType: 'application/json', contentEncoding: 'utf-8', headers, correlationId: id },
          { exchange: '', routingKey: w.queue },
        );
      } else {
        await w.producer.sendTask('rel.work', [-1, 0], {}, { taskId: id }, c.embed);
      }
    }
    await good;
    try {
      const dead = await takeMessages(w.producer.transport, `${w.queue}.dead-letter`, cases.length, 30_000);
      for (const message of dead) {
        const c = byId.get(message.properties.correlationId ?? '');
        assert.ok(c, 'one of the cases');
        assert.equal(message.properties.headers[DEAD_LETTER_HEADERS.reason], c.reason, c.what);
        t.diagnostic(`${c.what}: ${c.reason}: ${String(message.properties.headers[DEAD_LETTER_HEADERS.error]).slice(0, 200)}`);
      }
      assert.equal(new Set(dead.map((d) => d.properties.correlationId)).size, cases.length, 'each case dead-lettered once');
    } finally {
      await w.redis.del(...[...byId.keys()].map((id) => `celery-task-meta-${id}`));
    }
    const report = await w.settle(30_000);
    for (const [id, c] of byId) assert.equal(runsOf(w, id), c.runs, `${c.what}: runs`);
    const callback = await w.redis.get(`celery-task-meta-${unknownExchange.options.task_id as string}`);
    assert.match(callback ?? '', /"status": ?"FAILURE".*UnsendableError/, 'the callback that cannot be sent is recorded FAILURE');
    assert.match(worker.output(), /cannot be stored: .*WRONGTYPE/, 'a clear log line for the refused result');
    assert.doesNotMatch(worker.output(), /message requeued/);
    assert.deepEqual(report.lost, []);
    assert.deepEqual(report.unexpected, []);
    assert.equal(report.duplicated, 0);
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    assert.deepEqual(w.forbiddenLogLines(), []);
  });

  it('without a result backend, a callback that cannot be sent: the task runs once and is dead-lettered (workflow)', async () => {
    const w = (workload = new Workload());
    await w.startWorker('nobackend', ['-c', '4'], { CELERIAC_RESULT_BACKEND: '' });
    const id = randomUUID();
    w.attempted.set(id, -1);
    await w.producer.sendTask(
      'rel.work',
      [-1, 0],
      {},
      { taskId: id, ignoreResult: true },
      { callbacks: [signature({ exchange: `spec.no-such-exchange.${id}` })] },
    );
    const [dead] = await takeMessages(w.producer.transport, `${w.queue}.dead-letter`, 1, 15_000);
    assert.equal(dead.properties.correlationId, id);
    assert.equal(dead.properties.headers[DEAD_LETTER_HEADERS.reason], 'workflow');
    await w.send(20, 5); // the worker goes on; and by now a requeued copy would have run again
    const report = await w.settle(30_000);
    assert.deepEqual(report.lost, []);
    assert.equal(runsOf(w, id), 1);
  });

  it('a suspect does not stall the worker behind a long task: it and healthy tasks run beside it', async (t) => {
    const w = (workload = new Workload());
    // The first worker takes a long task and, in its prefetch, the suspect-to-be; then it dies.
    const first = await w.startWorker('holder', ['-c', '1']);
    const long = randomUUID();
    const suspect = randomUUID();
    for (const id of [long, suspect]) w.attempted.set(id, -1);
    // Its task already started once on a redelivered message (as if it had been running at an earlier death).
    await w.redis.incrby(`celeriac-redelivered-starts-${suspect}`, 1);
    await w.producer.sendTask('rel.work', [-1, 60_000], {}, { taskId: long });
    await w.producer.sendTask('rel.work', [-2, 5], {}, { taskId: suspect });
    await first.waitFor(new RegExp(`rel\\.work\\[${suspect}\\] received`), 20_000);
    first.child.kill('SIGKILL');
    await first.exited;
    // Both come back redelivered: the long task runs, the suspect must not wait for it.
    const second = await w.startWorker('survivor', ['-c', '4']);
    await second.waitFor(new RegExp(`rel\\.work\\[${suspect}\\] received`), 20_000);
    const sentAt = Date.now();
    await w.send(20, 5);
    const report = await w.settle(30_000);
    t.diagnostic(
      `checker: ${Workload.summary(report)}; ` +
        `the 20 healthy tasks answered ${Date.now() - sentAt} ms after they were sent, beside the 60 s task`,
    );
    assert.deepEqual(report.lost, [], 'healthy tasks ran while the long task held a slot');
    await waitFor(() => runsOf(w, suspect) === 1, 'the suspect ran', 20_000, 50);
    assert.equal(runsOf(w, long), 0, 'the long task is still running: the suspect and the healthy tasks ran beside it');
    await w.redis.del(`celeriac-redelivered-starts-${suspect}`, `celeriac-redelivered-starts-${long}`);
  });
});

/** JSON text of a signature whose link holds one whose link holds one... `depth` deep. */
function nestedLinks(depth: number): string {
  const link = (inner: string): string =>
    `{"task":"rel.work","args":[-1,0],"kwargs":{},"options":{"link":[${inner}]},"subtask_type":null,"immutable":true}`;
  let text = link('');
  for (let i = 0; i < depth; i++) text = link(text);
  return text;
}
