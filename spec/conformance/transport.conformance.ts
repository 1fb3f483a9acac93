import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ClosedError, PublishError } from '../../lib/errors/errors.js';
import type { Delivery, OutgoingMessage, QueueDeclaration, Transport } from '../../lib/broker/transport.js';

/** What a conformance run created, so the caller can remove exactly that from a real broker. */
export interface CreatedNames {
  queues: string[];
  exchanges: string[];
}

export interface ConformanceOptions {
  /** Runs once after the suite; removes what the suite created (a memory broker needs nothing). */
  cleanup?: (created: CreatedNames) => Promise<void>;
}

/** Deliveries in arrival order; `take()` waits for the next one not yet taken. */
export class Inbox {
  readonly all: Delivery[] = [];
  private taken = 0;
  private waiter: (() => void) | null = null;

  readonly push = (delivery: Delivery): void => {
    this.all.push(delivery);
    this.waiter?.();
  };

  async take(): Promise<Delivery> {
    while (this.taken >= this.all.length) await new Promise<void>((resolve) => (this.waiter = resolve));
    this.waiter = null;
    return this.all[this.taken++];
  }

  async takeMany(count: number): Promise<Delivery[]> {
    const result: Delivery[] = [];
    for (let i = 0; i < count; i++) result.push(await this.take());
    return result;
  }
}

export function message(body: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { body: Buffer.from(body), contentType: 'text/plain', contentEncoding: 'utf-8', headers: {}, ...extra };
}

/**
 * What a conformance suite uses to reach the broker: `withTransport` runs a body with a fresh
 * transport, closed afterwards whatever happens; `declare` declares a queue of the suite's own
 * (`<prefix>.<label>.<random>`) and records it, with its exchange, in `created` for cleanup.
 */
export function transportFixtures(prefix: string, make: () => Transport) {
  const created: CreatedNames = { queues: [], exchanges: [] };
  const unique = (label: string): string => `${prefix}.${label}.${randomUUID().slice(0, 8)}`;

  async function withTransport<T>(body: (transport: Transport) => Promise<T>): Promise<T> {
    const transport = make();
    try {
      return await body(transport);
    } finally {
      await transport.close();
    }
  }

  async function declare(transport: Transport, label: string, extra: Partial<QueueDeclaration> = {}): Promise<string> {
    const queue = unique(label);
    created.queues.push(queue);
    if (extra.exchange && !created.exchanges.includes(extra.exchange)) created.exchanges.push(extra.exchange);
    await transport.declareQueue({ name: queue, ...extra });
    return queue;
  }

  return { created, unique, withTransport, declare };
}

/**
 * The Transport contract (lib/broker/transport.ts), checked against one adapter. Every test
 * uses queues and exchanges of its own, named spec.transport.<label>.<random>.
 */
export function describeTransportConformance(name: string, make: () => Transport, opts: ConformanceOptions = {}): void {
  const { created, unique, withTransport, declare } = transportFixtures('spec.transport', make);

  describe(`Transport conformance: ${name}`, { timeout: 30_000 }, () => {
    after(async () => {
      await opts.cleanup?.(created);
    });

    it('round-trips body, every property and Celery-shaped headers', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'roundtrip');
        const headers = {
          lang: 'py',
          task: 'tasks.add',
          id: randomUUID(),
          eta: null,
          retries: 3,
          timelimit: [null, null],
          argsrepr: '(2, 2) ünïcode',
          ignore_result: false,
          soft: 1.5,
          nested: { list: [1, 'two', null, [true, { deep: 'yes' }]], none: null },
        };
        const full = message('{"hello": "wörld"}', {
          contentType: 'application/json',
          headers,
          correlationId: headers.id,
          replyTo: 'spec.reply',
          priority: 3,
          expiration: '600000',
          messageId: headers.id,
          persistent: true,
        });
        const bare = message('bare', { headers: { only: 'this' }, persistent: false });
        await transport.publish(full, { exchange: '', routingKey: queue });
        await transport.publish(bare, { exchange: '', routingKey: queue });

        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 10 }, inbox.push);
        const [first, second] = await inbox.takeMany(2);
        const { body: _fullBody, ...fullProperties } = full;
        assert.equal(first.body.toString(), '{"hello": "wörld"}');
        assert.deepEqual(first.properties, fullProperties);
        assert.equal(first.queue, queue);
        assert.equal(first.exchange, '');
        assert.equal(first.routingKey, queue);
        assert.equal(first.redelivered, false);
        const { body: _bareBody, ...bareProperties } = bare;
        assert.deepEqual(second.properties, bareProperties);
        assert.ok(first.ack() && second.ack());
      });
    });

    it('rejects an unroutable mandatory publish with PublishError "unroutable"', async () => {
      await withTransport(async (transport) => {
        const exchange = unique('x-direct');
        await declare(transport, 'bound', { exchange, exchangeType: 'direct', routingKey: 'known' });
        const missing = unique('missing');
        for (const target of [
          { exchange: '', routingKey: missing },
          { exchange, routingKey: 'unknown' },
          { exchange: '', routingKey: missing, mandatory: true },
        ]) {
          await assert.rejects(transport.publish(message('x'), target), (error: unknown) => {
            assert.ok(error instanceof PublishError, String(error));
            assert.equal(error.reason, 'unroutable');
            return true;
          });
        }
        await transport.publish(message('dropped'), { exchange: '', routingKey: missing, mandatory: false });

        // An exchange that does not exist: only the publishes to it fail, whatever else is in flight.
        const queue = await declare(transport, 'beside-ghost');
        const ghost = unique('x-ghost');
        const outcomes = await Promise.allSettled(
          [queue, ghost, queue, ghost, queue].map((where, i) =>
            transport.publish(
              message(String(i)),
              where === ghost ? { exchange: ghost, routingKey: 'k', mandatory: false } : { exchange: '', routingKey: queue },
            ),
          ),
        );
        assert.deepEqual(
          outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as PublishError).reason)),
          ['ok', 'unroutable', 'ok', 'unroutable', 'ok'],
        );
        // The broker closes the channel on the bad publish; the others are re-sent, so duplicates may occur.
        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 10 }, inbox.push);
        const bodies = new Set<string>();
        while (bodies.size < 3) bodies.add((await inbox.take()).body.toString());
        assert.deepEqual([...bodies].sort(), ['0', '2', '4']);
      });
    });

    it('matches each return to its own publish with many in flight', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'inflight');
        const missing = unique('missing');
        // Even publishes are routable, odd ones not. By i % 10: a messageId of its own; a
        // correlationId of its own; a correlationId, then a messageId, shared by a routable and
        // an unroutable publish in flight together (a task id sent twice at once); neither.
        const [sharedCorrelation, sharedId] = [randomUUID(), randomUUID()];
        const identity = (i: number): Partial<OutgoingMessage> => {
          const kind = i % 10;
          if (kind < 2) return { messageId: `m-${i}` };
          if (kind < 4) return { correlationId: `c-${i}` };
          if (kind < 6) return { correlationId: sharedCorrelation };
          if (kind < 8) return { messageId: sharedId, correlationId: sharedId };
          return {};
        };
        const outcomes = await Promise.allSettled(
          Array.from({ length: 200 }, (_, i) =>
            transport.publish(message(String(i), identity(i)), {
              exchange: '',
              routingKey: i % 2 === 0 ? queue : missing,
            }),
          ),
        );
        outcomes.forEach((outcome, i) => {
          if (i % 2 === 0) assert.equal(outcome.status, 'fulfilled', `publish ${i}`);
          else {
            assert.equal(outcome.status, 'rejected', `publish ${i}`);
            assert.equal((outcome.reason as PublishError).reason, 'unroutable');
          }
        });
        assert.equal(await transport.messageCount(queue), 100);
      });
    });

    it('routes through named direct, topic and fanout exchanges', async () => {
      await withTransport(async (transport) => {
        const direct = unique('x-direct');
        const topic = unique('x-topic');
        const fanout = unique('x-fanout');
        const d = await declare(transport, 'direct', { exchange: direct, exchangeType: 'direct', routingKey: 'tasks' });
        const t1 = await declare(transport, 'topic1', { exchange: topic, exchangeType: 'topic', routingKey: 'celery.*.high' });
        const t2 = await declare(transport, 'topic2', { exchange: topic, exchangeType: 'topic', routingKey: 'celery.#' });
        const f1 = await declare(transport, 'fan1', { exchange: fanout, exchangeType: 'fanout', routingKey: '' });
        const f2 = await declare(transport, 'fan2', { exchange: fanout, exchangeType: 'fanout', routingKey: '' });
        await transport.publish(message('d'), { exchange: direct, routingKey: 'tasks' });
        await transport.publish(message('t'), { exchange: topic, routingKey: 'celery.video.high' });
        await transport.publish(message('t'), { exchange: topic, routingKey: 'celery' });
        await transport.publish(message('f'), { exchange: fanout, routingKey: 'anything' });
        const counts = await Promise.all([d, t1, t2, f1, f2].map((queue) => transport.messageCount(queue)));
        assert.deepEqual(counts, [1, 1, 2, 1, 1]);

        const inbox = new Inbox();
        await transport.consume([t1, f1], { prefetch: 5 }, inbox.push);
        const queues = (await inbox.takeMany(2)).map((delivery) => delivery.queue).sort();
        assert.deepEqual(queues, [t1, f1].sort());
      });
    });

    it('keeps at most `prefetch` deliveries unsettled per queue', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'prefetch');
        for (let i = 0; i < 10; i++) await transport.publish(message(String(i)), { exchange: '', routingKey: queue });
        const held: Delivery[] = [];
        let most = 0;
        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 3 }, (delivery) => {
          held.push(delivery);
          most = Math.max(most, held.length);
          inbox.push(delivery);
        });
        await inbox.takeMany(3);
        assert.equal(await transport.messageCount(queue), 7, 'the broker holds back all but three');
        for (let received = 3; received < 10; received++) {
          assert.ok(held.shift()!.ack());
          await inbox.take();
        }
        while (held.length > 0) assert.ok(held.shift()!.ack());
        assert.equal(most, 3);
        assert.deepEqual(
          inbox.all.map((d) => d.body.toString()),
          ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        );
      });
    });

    it('settles a delivery only once', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'once');
        await transport.publish(message('a'), { exchange: '', routingKey: queue });
        await transport.publish(message('b'), { exchange: '', routingKey: queue });
        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 2 }, inbox.push);
        const [a, b] = await inbox.takeMany(2);
        assert.equal(a.ack(), true);
        assert.equal(a.ack(), false);
        assert.equal(a.reject(true), false);
        assert.equal(b.reject(false), true);
        assert.equal(b.ack(), false);
        assert.equal(await transport.messageCount(queue), 0);
        // The channel survived: a further publish is still delivered and settles.
        await transport.publish(message('c'), { exchange: '', routingKey: queue });
        assert.equal((await inbox.take()).ack(), true);
      });
    });

    it('redelivers a requeued delivery with `redelivered` set, and drops a rejected one', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'requeue');
        await transport.publish(message('again'), { exchange: '', routingKey: queue });
        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 1 }, inbox.push);
        const first = await inbox.take();
        assert.equal(first.redelivered, false);
        assert.ok(first.reject(true));
        const second = await inbox.take();
        assert.equal(second.body.toString(), 'again');
        assert.equal(second.redelivered, true);
        assert.ok(second.reject(false));
        await transport.publish(message('marker'), { exchange: '', routingKey: queue });
        const third = await inbox.take();
        assert.equal(third.body.toString(), 'marker', 'the rejected message is gone');
        assert.ok(third.ack());
      });
    });

    it('stops deliveries on cancel, leaving handed-out ones settle-able', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'cancel');
        await transport.publish(message('1'), { exchange: '', routingKey: queue });
        const inbox = new Inbox();
        const handle = await transport.consume([queue], { prefetch: 5 }, inbox.push);
        const held = await inbox.take();
        await handle.cancel();
        await transport.publish(message('2'), { exchange: '', routingKey: queue });
        await transport.publish(message('3'), { exchange: '', routingKey: queue });
        assert.equal(await transport.messageCount(queue), 2);
        assert.equal(inbox.all.length, 1);
        assert.equal(held.ack(), true);
        await handle.cancel();
      });
    });

    it('purges ready messages and reports how many', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'purge');
        for (let i = 0; i < 5; i++) await transport.publish(message(String(i)), { exchange: '', routingKey: queue });
        assert.equal(await transport.messageCount(queue), 5);
        assert.equal(await transport.purge(queue), 5);
        assert.equal(await transport.messageCount(queue), 0);
        assert.equal(await transport.purge(queue), 0);
      });
    });

    it('gets one message at a time, unsettled until acked or rejected', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'get');
        assert.equal(await transport.get(queue), null);
        for (const body of ['one', 'two']) await transport.publish(message(body), { exchange: '', routingKey: queue });
        const first = await transport.get(queue);
        assert.equal(first?.body.toString(), 'one');
        assert.equal(first?.queue, queue);
        assert.equal(await transport.messageCount(queue), 1, 'a gotten message is no longer ready');
        const second = await transport.get(queue);
        assert.equal(second?.body.toString(), 'two');
        assert.equal(await transport.get(queue), null);
        assert.equal(first.reject(true), true);
        assert.equal(second.ack(), true);
        assert.equal(second.ack(), false);
        const again = await transport.get(queue);
        assert.equal(again?.body.toString(), 'one');
        assert.equal(again?.redelivered, true);
        again.ack();
        assert.equal(await transport.messageCount(queue), 0);
      });
    });

    it('gets many at once, up to a limit, each unsettled until acked or rejected', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'get-many');
        assert.deepEqual(await transport.getMany(queue, 10), []);
        for (let i = 0; i < 5; i++) await transport.publish(message(String(i)), { exchange: '', routingKey: queue });
        const three = await transport.getMany(queue, 3);
        assert.deepEqual(
          three.map((d) => d.body.toString()),
          ['0', '1', '2'],
        );
        assert.equal(three[0].queue, queue);
        assert.equal(await transport.messageCount(queue), 2, 'taken messages are no longer ready');
        const rest = await transport.getMany(queue, 10);
        assert.deepEqual(
          rest.map((d) => d.body.toString()),
          ['3', '4'],
          'fewer than asked when the queue runs out',
        );
        for (const delivery of three) assert.equal(delivery.ack(), true);
        assert.equal(rest[0].reject(true), true);
        assert.equal(rest[1].ack(), true);
        const again = await transport.getMany(queue, 10);
        assert.deepEqual(
          again.map((d) => [d.body.toString(), d.redelivered]),
          [['3', true]],
        );
        again[0].ack();
        assert.equal(await transport.messageCount(queue), 0);
      });
    });

    it('returns messages taken by getMany to the queue when the transport closes', async () => {
      const queue = await withTransport(async (transport) => {
        const name = await declare(transport, 'get-many-close');
        for (const body of ['a', 'b']) await transport.publish(message(body), { exchange: '', routingKey: name });
        assert.equal((await transport.getMany(name, 10)).length, 2);
        return name;
      });
      await withTransport(async (transport) => {
        const back = await transport.getMany(queue, 10);
        assert.deepEqual(
          back.map((d) => [d.body.toString(), d.redelivered]),
          [
            ['a', true],
            ['b', true],
          ],
        );
        for (const delivery of back) delivery.ack();
      });
    });

    it('returns gotten, unsettled messages to the queue when the transport closes', async () => {
      const queue = await withTransport(async (transport) => {
        const name = await declare(transport, 'get-close');
        await transport.publish(message('held'), { exchange: '', routingKey: name });
        assert.ok(await transport.get(name));
        return name;
      });
      await withTransport(async (transport) => {
        const back = await transport.get(queue);
        assert.equal(back?.body.toString(), 'held');
        assert.equal(back?.redelivered, true);
        back.ack();
      });
    });

    it('deletes a queue with its messages', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'delete');
        await transport.publish(message('gone'), { exchange: '', routingKey: queue });
        await transport.deleteQueue(queue);
        await assert.rejects(transport.messageCount(queue));
        await assert.rejects(transport.publish(message('nowhere'), { exchange: '', routingKey: queue }), PublishError);
      });
    });

    it('declares idempotently, keeping messages and bindings', async () => {
      await withTransport(async (transport) => {
        const exchange = unique('x-idem');
        const declaration = { exchange, exchangeType: 'direct' as const, routingKey: 'k', maxPriority: 5 };
        const queue = await declare(transport, 'idem', declaration);
        await transport.publish(message('kept'), { exchange, routingKey: 'k' });
        await transport.declareQueue({ name: queue, ...declaration });
        await transport.declareQueue({ name: queue, ...declaration });
        await transport.publish(message('kept'), { exchange, routingKey: 'k' });
        assert.equal(await transport.messageCount(queue), 2);
      });
    });

    it('delivers by priority on a queue declared with a maxPriority', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'priority', { maxPriority: 10 });
        for (const priority of [1, 9, 5]) {
          await transport.publish(message(String(priority), { priority }), { exchange: '', routingKey: queue });
        }
        const inbox = new Inbox();
        await transport.consume([queue], { prefetch: 1 }, inbox.push);
        const order: string[] = [];
        for (let i = 0; i < 3; i++) {
          const delivery = await inbox.take();
          order.push(delivery.body.toString());
          assert.ok(delivery.ack());
        }
        assert.deepEqual(order, ['9', '5', '1']);
      });
    });

    it('returns unsettled deliveries to the queue when the transport closes', async () => {
      const queue = await withTransport((transport) => declare(transport, 'handback'));
      const first = make();
      const inbox = new Inbox();
      try {
        await first.publish(message('held'), { exchange: '', routingKey: queue });
        await first.consume([queue], { prefetch: 1 }, inbox.push);
        const held = await inbox.take();
        await first.close();
        assert.equal(held.ack(), false, 'a delivery of a closed transport does not settle');
      } finally {
        await first.close();
      }
      await withTransport(async (second) => {
        const again = new Inbox();
        await second.consume([queue], { prefetch: 1 }, again.push);
        const delivery = await again.take();
        assert.equal(delivery.body.toString(), 'held');
        assert.equal(delivery.redelivered, true);
        assert.ok(delivery.ack());
      });
    });

    it('closes idempotently and refuses work afterwards', async () => {
      const transport = make();
      const queue = await declare(transport, 'close');
      await transport.publish(message('x'), { exchange: '', routingKey: queue });
      await Promise.all([transport.close(), transport.close()]);
      await transport.close();
      await assert.rejects(transport.publish(message('late'), { exchange: '', routingKey: queue }), ClosedError);
      await assert.rejects(
        transport.consume([queue], { prefetch: 1 }, () => undefined),
        ClosedError,
      );
    });
  });
}
