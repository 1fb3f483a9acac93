import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../lib/index.js';
import type { Delivery } from '../../lib/broker/transport.js';
import { ControlServer } from '../../lib/control/control-server.js';
import { nodeQueue, REPLY_EXCHANGE, replyQueue } from '../../lib/control/mailbox.js';
import { memoryApp } from '../support/apps.js';

/**
 * A worker's mailbox fed hostile control messages (memory://): published straight to its node
 * queue, as any broker publisher can. None may end the process or reach a handler unchecked; an
 * answerable one is answered with Celery's `{error}`.
 */
describe('remote control: hostile control messages (memory://)', () => {
  const hostname = 'hostile@spec';
  const oid = randomUUID();
  const replies = new Map<string, Record<string, unknown>>();
  const waiters = new Map<string, (reply: Record<string, unknown>) => void>();
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  let app: App;
  let server: ControlServer;
  let worker: ReturnType<App['worker']>;
  let add: ReturnType<typeof app.task<[number, number], number>>;

  before(async () => {
    process.on('unhandledRejection', onRejection);
    app = memoryApp();
    add = app.task('spec.hostile.add', (x: number, y: number) => x + y);
    worker = app.worker({ hostname, shutdownTimeout: '1s', concurrency: 1 });
    server = new ControlServer(worker);
    await server.start();
    await worker.start();
    const queue = replyQueue(oid);
    await app.transport.declareQueue(queue);
    await app.transport.consume([queue.name], { prefetch: 64 }, (delivery: Delivery) => {
      delivery.ack();
      const ticket = String(delivery.properties.headers.ticket);
      const reply = JSON.parse(delivery.body.toString()) as Record<string, unknown>;
      replies.set(ticket, reply);
      waiters.get(ticket)?.(reply);
    });
  });
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await worker.stop();
    await server.stop();
    await app.close();
  });

  /** Publishes `body` (an object is sent as JSON) to `node`'s queue, asking for a reply unless `body` says otherwise. */
  async function send(body: unknown, raw = false, node = hostname): Promise<string> {
    const ticket = randomUUID();
    const json = raw
      ? (body as Buffer)
      : Buffer.from(JSON.stringify({ ticket, reply_to: { exchange: REPLY_EXCHANGE, routing_key: oid }, ...(body as object) }));
    await app.transport.publish(
      { body: json, contentType: 'application/json', contentEncoding: 'utf-8', headers: { clock: 1, expires: 0 }, persistent: false },
      { exchange: '', routingKey: nodeQueue(node).name },
    );
    return ticket;
  }

  function replyTo(ticket: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const known = replies.get(ticket);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${ticket} in ${timeoutMs} ms`)), timeoutMs);
      waiters.set(ticket, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  /** A well-formed ping sent after the others is answered; then none of `tickets` was. */
  async function assertUnanswered(tickets: string[], what: string): Promise<void> {
    assert.deepEqual(
      await replyTo(await send({ method: 'ping', arguments: {}, destination: null })),
      { [hostname]: { ok: 'pong' } },
      `alive after ${what}`,
    );
    for (const ticket of tickets) assert.equal(replies.get(ticket), undefined, `${what}: no reply`);
    assert.deepEqual(rejections, [], `${what}: no unhandled rejection`);
  }

  it('malformed addressing is dropped, neither run nor fatal', async () => {
    const cases: [string, unknown][] = [
      ['destination a mapping with a length', { method: 'ping', destination: { length: 1 }, arguments: {} }],
      ['destination a number', { method: 'ping', destination: 5, arguments: {} }],
      ['destination a list of numbers', { method: 'ping', destination: [5, null], arguments: {} }],
      ['pattern a number', { method: 'ping', pattern: 5, matcher: 'glob', arguments: {} }],
      ['pattern a mapping', { method: 'ping', pattern: { length: 3 }, matcher: 'pcre', arguments: {} }],
      ['unknown matcher', { method: 'ping', pattern: 'hostile@*', matcher: 'sql', arguments: {} }],
      ['invalid pcre', { method: 'ping', pattern: '(unclosed', matcher: 'pcre', arguments: {} }],
    ];
    const tickets: string[] = [];
    for (const [, body] of cases) tickets.push(await send(body));
    await assertUnanswered(tickets, cases.map(([what]) => what).join(', '));
  });

  it('a malformed reply_to or ticket, or a body that is no mapping, is dropped', async () => {
    const tickets = [
      await send({ method: 'ping', arguments: {}, reply_to: { exchange: 5, routing_key: oid } }),
      await send({ method: 'ping', arguments: {}, reply_to: 'reply.celery.pidbox' }),
      await send({ method: 'ping', arguments: {}, reply_to: { exchange: REPLY_EXCHANGE, routing_key: 'x'.repeat(300) } }),
      await send({ method: 'ping', arguments: {}, ticket: { id: 1 } }),
    ];
    for (const raw of ['[1, 2]', 'null', '"ping"', '{"method":', '\u0000\u00ff']) await send(Buffer.from(raw), true);
    await assertUnanswered(tickets, 'bad reply fields and bodies');
  });

  it("glob and pcre patterns address by kombu's rules", async () => {
    const glob = await send({ method: 'ping', pattern: 'host*@sp?c', matcher: 'glob', arguments: {} });
    assert.deepEqual(await replyTo(glob), { [hostname]: { ok: 'pong' } });
    const pcre = await send({ method: 'ping', pattern: 'hos[a-z]+@', matcher: 'pcre', arguments: {} });
    assert.deepEqual(await replyTo(pcre), { [hostname]: { ok: 'pong' } });
    const elsewhere = [
      await send({ method: 'ping', pattern: 'other*', matcher: 'glob', arguments: {} }),
      // re.match anchors at the start.
      await send({ method: 'ping', pattern: 'spec', matcher: 'pcre', arguments: {} }),
      // Nested quantifiers are refused before matching.
      await send({ method: 'ping', pattern: '(.*.*)*!', matcher: 'pcre', arguments: {} }),
    ];
    await assertUnanswered(elsewhere, 'patterns for other nodes or refused');
  });

  it('a flood of distinct slow pcre patterns neither stalls the mailbox nor the tasks beside it', async () => {
    // A second node whose mailbox already holds the flood when it starts, with a ping behind it.
    // Each pattern passes the static check (one quantifier) and backtracks 8^12 ways on the node's
    // name, costing a 20 ms match timeout: 400 of them held the event loop for 8 s when every
    // message was handled on arrival with no pcre time budget.
    const flooded = 'flooded@spec';
    await app.transport.declareQueue(nodeQueue(flooded));
    const tickets: string[] = [];
    const results: Promise<number>[] = [];
    for (let i = 0; i < 400; i++) {
      tickets.push(
        await send({ method: 'ping', arguments: {}, pattern: `(.|.|.|.|.|.|.|.)*!${i}-${randomUUID()}`, matcher: 'pcre' }, false, flooded),
      );
      if (i % 20 === 0) results.push(add.delay(i, 1).then((result) => result.get({ timeout: '30s' })));
    }
    const ping = await send({ method: 'ping', arguments: {} }, false, flooded);
    const floodedWorker = app.worker({ hostname: flooded, shutdownTimeout: '1s', concurrency: 1 });
    const floodedServer = new ControlServer(floodedWorker);
    await floodedServer.start();
    try {
      assert.deepEqual(await replyTo(ping), { [flooded]: { ok: 'pong' } }, 'a ping behind the flood is answered');
      assert.deepEqual(
        await Promise.all(results),
        Array.from({ length: 20 }, (_, k) => k * 20 + 1),
        'every task sent during the flood completed',
      );
      for (const ticket of tickets) assert.equal(replies.get(ticket), undefined, 'no slow pattern addressed the node');
      assert.deepEqual(rejections, []);
    } finally {
      await floodedServer.stop();
    }
  });

  it('a malformed method or arguments is answered with {error}', async () => {
    const cases: [unknown, RegExp][] = [
      [{ method: 42, arguments: {} }, /^method is number 42/],
      [{ method: 'x'.repeat(10_000), arguments: {} }, /^method is "x+… \[\d+ more characters truncated\]", expected/],
      [{ method: 'ping', arguments: 'all' }, /^arguments is a string/],
      [{ method: 'ping', arguments: [1, 2] }, /^arguments is a list/],
      [{ method: 'toString', arguments: {} }, /No such control command: toString/],
      [{ method: '__proto__', arguments: {} }, /No such control command: __proto__/],
    ];
    for (const [body, error] of cases) {
      const reply = (await replyTo(await send(body)))[hostname] as { error: string };
      assert.match(reply.error, error);
      assert.ok(reply.error.length < 400, 'the error does not echo a huge value');
    }
    assert.deepEqual(rejections, []);
  });

  it('every handler checks its arguments and names the bad one', async () => {
    const cases: [unknown, RegExp][] = [
      [{ method: 'add_consumer', arguments: { queue: {} } }, /^argument queue: expected a queue name/],
      [{ method: 'add_consumer', arguments: { queue: 'q'.repeat(256) } }, /^argument queue:/],
      [{ method: 'add_consumer', arguments: { queue: 'amq.hostile' } }, /^argument queue:/],
      [{ method: 'add_consumer', arguments: {} }, /^argument queue:/],
      [{ method: 'cancel_consumer', arguments: { queue: ['celery'] } }, /^argument queue:/],
      [{ method: 'revoke', arguments: { task_id: { id: 'x' } } }, /^argument task_id:/],
      [{ method: 'revoke', arguments: { task_id: ['a', 7] } }, /^argument task_id:/],
      [{ method: 'revoke', arguments: { task_id: 'a', terminate: 'yes' } }, /^argument terminate:/],
      [{ method: 'revoke', arguments: { task_id: 'a', signal: { kill: 9 } } }, /^argument signal:/],
      [{ method: 'rate_limit', arguments: { task_name: ['spec.hostile.add'], rate_limit: '1/s' } }, /^argument task_name:/],
      [{ method: 'rate_limit', arguments: { task_name: 'spec.hostile.add', rate_limit: { per: 's' } } }, /^argument rate_limit:/],
    ];
    for (const [body, error] of cases) {
      const reply = (await replyTo(await send(body)))[hostname] as { error: string };
      assert.match(String(reply.error), error, JSON.stringify(body).slice(0, 100));
    }
    assert.deepEqual(worker.consuming, [app.config.defaultQueue], 'no queue was consumed from a bad argument');
    assert.equal(app.tasks.get('spec.hostile.add')!.options.rateLimit, undefined);
    assert.deepEqual(server.revoked.ids(), [], 'nothing was revoked from a bad argument');
    assert.deepEqual(rejections, []);
  });
});
