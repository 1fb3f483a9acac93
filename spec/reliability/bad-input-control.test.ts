import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { Signature } from '../../lib/index.js';
import { Workload } from '../support/loss-checker.js';
import { NodeMailbox } from '../support/control-mailbox.js';

/**
 * Hostile remote-control input against a real `celeriac worker` process (-c 4, Redis results),
 * beside a normal workload. Control messages are written straight into the node's mailbox queue,
 * never to the shared `celery.pidbox` fanout, so no other worker on the broker sees them.
 */
describe('reliability: bad control input', () => {
  const w = new Workload();
  const mailboxes: NodeMailbox[] = [];
  after(async () => {
    for (const mailbox of mailboxes) await mailbox.close();
    await w.close();
  });

  /** A node name long enough that a catastrophic pattern would hold the worker for hours. */
  const nodeName = (role: string): string => `${role}-${randomUUID()}`;

  async function startNode(
    role: string,
    args: string[] = [],
  ): Promise<{ worker: Awaited<ReturnType<Workload['startWorker']>>; mailbox: NodeMailbox }> {
    const name = nodeName(role);
    const worker = await w.startWorker(name, ['-c', '4', ...args]);
    const mailbox = new NodeMailbox(w.producer, `${name}@${hostname()}`);
    mailboxes.push(mailbox);
    await mailbox.open();
    return { worker, mailbox };
  }

  it('no malformed control message ends or pins the worker; each is dropped or answered with {error}, and logged briefly', async (t) => {
    const { worker, mailbox } = await startNode('ctl-hostile');
    const healthy = w.send(200, 2);
    const dropped = [
      await mailbox.send({ method: 'ping', destination: { length: 1 } }),
      await mailbox.send({ method: 'ping', pattern: 5, matcher: 'glob' }),
      await mailbox.send({ method: 'ping', destination: 5 }),
      await mailbox.send({ method: 'ping', pattern: '(.*.*)*!', matcher: 'pcre' }),
      await mailbox.send({ method: 'ping', pattern: '(a|a|b)*!', matcher: 'pcre' }),
      await mailbox.send({ method: 'ping', reply_to: { exchange: ['x'], routing_key: 1 } }),
    ];
    await mailbox.sendRaw(Buffer.from('{"method": "ping", "destination": '));
    await mailbox.sendRaw(Buffer.from([0x93, 0xc1]), 'application/x-msgpack');
    const answered: [string, RegExp][] = [
      [await mailbox.send({ method: { name: 'ping' } }), /^method is a mapping/],
      [await mailbox.send({ method: 'ping', arguments: 'x'.repeat(100_000) }), /^arguments is a string of 100000 characters/],
      [await mailbox.send({ method: 'add_consumer', arguments: { queue: {} } }), /^argument queue: expected a queue name/],
      [await mailbox.send({ method: 'revoke', arguments: { task_id: [{}] } }), /^argument task_id:/],
      [await mailbox.send({ method: 'x'.repeat(5000) }), /^method is "x+… \[\d+ more characters truncated\]"/],
    ];
    const ping = await mailbox.send({ method: 'ping' });
    assert.deepEqual(
      await mailbox.reply(ping, 15_000),
      { [mailbox.node]: { ok: 'pong' } },
      'the worker answers a ping after the bad messages',
    );
    for (const [ticket, error] of answered) {
      const reply = (await mailbox.reply(ticket))?.[mailbox.node] as { error?: string } | undefined;
      assert.match(String(reply?.error), error);
    }
    for (const ticket of dropped) assert.equal(mailbox.replies.get(ticket), undefined, 'not addressed, or not answerable: no reply');
    await healthy;
    const report = await w.settle(30_000);
    assert.deepEqual(report.lost, []);
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    assert.deepEqual(w.forbiddenLogLines(), []);
    const controlLines = worker
      .output()
      .split('\n')
      .filter((line) => line.includes('remote control:'));
    assert.ok(
      controlLines.some((line) => /dropped a malformed message: destination is a mapping/.test(line)),
      controlLines.join('\n'),
    );
    assert.ok(
      controlLines.some((line) => /pcre pattern refused/.test(line)),
      controlLines.join('\n'),
    );
    assert.ok(
      controlLines.every((line) => line.length < 500),
      'no huge log line',
    );
    t.diagnostic(
      `${dropped.length + 2} dropped, ${answered.length} answered with {error}; ${report.completed} healthy tasks completed beside them`,
    );
  });

  it('a flood of distinct slow pcre patterns stalls neither the mailbox nor the tasks beside it', async (t) => {
    const { worker, mailbox } = await startNode('ctl-flood');
    const healthy = w.send(200, 2);
    // Each passes the static check (one quantifier) and backtracks 4^n ways on the node's name,
    // costing a 20 ms match timeout. Handled on arrival with no pcre time budget, 1,200 of them
    // held the worker for some 25 s, and a ping behind them waited as long.
    const patterns = 1200;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < patterns) await mailbox.send({ method: 'ping', pattern: `(.|.|.|.)*!${next++}-${randomUUID()}`, matcher: 'pcre' });
    };
    await Promise.all(Array.from({ length: 20 }, lane));
    const ping = await mailbox.send({ method: 'ping' });
    assert.deepEqual(await mailbox.reply(ping, 15_000), { [mailbox.node]: { ok: 'pong' } }, 'a ping behind the flood is answered');
    await healthy;
    const report = await w.settle(30_000);
    assert.deepEqual(report.lost, []);
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    const budgetLines = worker
      .output()
      .split('\n')
      .filter((line) => /pcre matching time spent/.test(line));
    assert.equal(budgetLines.length, 1, `one line for the dropped messages: ${budgetLines.join('\n')}`);
    t.diagnostic(`${patterns} distinct slow patterns; ${report.completed} healthy tasks completed beside them; ${budgetLines[0]}`);
  });

  it('replies to an exchange that does not exist make no task run twice', async (t) => {
    const { worker, mailbox } = await startNode('ctl-replyto');
    const parents = 1500;
    const ids = new Set<string>();
    let sent = 0;
    const sendAll = async (): Promise<void> => {
      const lane = async (): Promise<void> => {
        while (sent < parents) {
          const n = sent++;
          const id = randomUUID();
          const callbackId = randomUUID();
          ids.add(id).add(callbackId);
          await w.producer.sendTask(
            'rel.work',
            [n, 0],
            {},
            {
              taskId: id,
              link: new Signature({ task: 'rel.work', args: [parents + n, 0], immutable: true, options: { taskId: callbackId } }),
            },
          );
        }
      };
      await Promise.all(Array.from({ length: 20 }, lane));
    };
    // Bad replies arrive throughout, while the worker publishes callbacks.
    const missing = `spec.no-such-exchange.${randomUUID()}`;
    let badReplies = 0;
    let sending = true;
    const hostile = (async () => {
      while (sending) {
        await mailbox.send({ method: 'ping', reply_to: { exchange: missing, routing_key: 'nobody' } });
        badReplies++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await sendAll();
    const deadline = Date.now() + 45_000;
    const runs = () => w.executions().filter((run) => ids.has(run.id));
    while (new Set(runs().map((run) => run.id)).size < ids.size && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    sending = false;
    await hostile;
    // Anything sent twice would run within moments of the rest.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const done = runs();
    const perId = new Map<string, number>();
    for (const run of done) perId.set(run.id, (perId.get(run.id) ?? 0) + 1);
    const twice = [...perId].filter(([, count]) => count > 1);
    assert.equal(perId.size, ids.size, `every task and callback ran (${perId.size} of ${ids.size})`);
    assert.deepEqual(twice, [], `${twice.length} ids ran more than once`);
    const ping = await mailbox.send({ method: 'ping' });
    assert.deepEqual(await mailbox.reply(ping), { [mailbox.node]: { ok: 'pong' } }, 'replies still flow');
    assert.ok(worker.output().includes(`no exchange '${missing}'`), 'the failed reply is logged with its reason');
    assert.equal(worker.child.exitCode, null);
    t.diagnostic(`${ids.size} tasks and callbacks each ran once beside ${badReplies} pings whose reply exchange does not exist`);
  });

  it('callbacks routed to an exchange that does not exist make no other task or callback run twice', async (t) => {
    // The same fault through the task channel itself: a signature's exchange comes from the
    // incoming message, and the broker closes the channel the worker publishes callbacks on.
    const { worker } = await startNode('ctl-cb-exchange');
    const missing = `spec.no-such-exchange.${randomUUID()}`;
    const parents = 1000;
    const ids = new Set<string>();
    let sent = 0;
    const lane = async (): Promise<void> => {
      while (sent < parents) {
        const n = sent++;
        const id = randomUUID();
        const callbackId = randomUUID();
        const link = [new Signature({ task: 'rel.work', args: [parents + n, 0], immutable: true, options: { taskId: callbackId } })];
        // A parent whose callback cannot be sent is the worker's to retry (it runs again, with
        // its good callback): only the others, and theirs, are counted.
        if (n % 10 !== 0) ids.add(id).add(callbackId);
        else link.push(new Signature({ task: 'rel.work', args: [-1, 0], immutable: true, options: { exchange: missing } }));
        await w.producer.sendTask('rel.work', [n, 0], {}, { taskId: id, link });
      }
    };
    await Promise.all(Array.from({ length: 20 }, lane));
    const deadline = Date.now() + 45_000;
    const runs = () => w.executions().filter((run) => ids.has(run.id));
    while (new Set(runs().map((run) => run.id)).size < ids.size && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const perId = new Map<string, number>();
    for (const run of runs()) perId.set(run.id, (perId.get(run.id) ?? 0) + 1);
    const twice = [...perId].filter(([, count]) => count > 1);
    assert.equal(perId.size, ids.size, `every task and callback ran (${perId.size} of ${ids.size})`);
    assert.deepEqual(twice, [], `${twice.length} ids ran more than once`);
    assert.equal(worker.child.exitCode, null);
    t.diagnostic(`${ids.size} other tasks and callbacks each ran once beside ${parents / 10} callbacks to an exchange that does not exist`);
  });

  it('with --control-commands safe, shutdown and terminate are refused with {error} and the worker goes on', async () => {
    const { worker, mailbox } = await startNode('ctl-safe', ['--control-commands', 'safe']);
    assert.match(worker.output(), /remote control: obeying ping,active,reserved,scheduled,registered,revoked,stats,active_queues,revoke/);
    const shutdown = await mailbox.send({ method: 'shutdown' });
    const terminate = await mailbox.send({ method: 'revoke', arguments: { task_id: randomUUID(), terminate: true } });
    assert.match(
      String(((await mailbox.reply(shutdown))?.[mailbox.node] as { error?: string })?.error),
      /control command shutdown is not allowed/,
    );
    assert.match(
      String(((await mailbox.reply(terminate))?.[mailbox.node] as { error?: string })?.error),
      /revoke with terminate is not allowed/,
    );
    const stats = await mailbox.send({ method: 'stats' });
    assert.equal(((await mailbox.reply(stats))?.[mailbox.node] as { pid?: number })?.pid, worker.child.pid);
    assert.equal(worker.child.exitCode, null);
    assert.match(worker.output(), /refused shutdown/);
  });
});
