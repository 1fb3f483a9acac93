import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ConfigError, TransportError } from '../../lib/errors/errors.js';
import type { Delivery, QueueDeclaration, Transport } from '../../lib/broker/transport.js';
import { message, transportFixtures, type ConformanceOptions } from './transport.conformance.js';

/**
 * Queue intents (lib/broker/transport.ts QueueDeclaration) and what the broker reports back
 * (Delivery.deadLetter, Delivery.deliveryCount, TransportError reasons), checked against one
 * adapter: each intent does the same on memory:// and on RabbitMQ. Queues are named
 * spec.intents.<label>.<random>.
 */
export function describeQueueIntentConformance(name: string, make: () => Transport, opts: ConformanceOptions = {}): void {
  const { created, unique, withTransport, declare } = transportFixtures('spec.intents', make);

  /** basic.get until a message arrives (the broker dead-letters a moment after the cause). */
  async function waitForGet(transport: Transport, queue: string, timeoutMs = 5000): Promise<Delivery> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const delivery = await transport.get(queue);
      if (delivery) return delivery;
      assert.ok(Date.now() < deadline, `nothing arrived in ${queue}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function waitForCount(transport: Transport, queue: string, count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await transport.messageCount(queue)) !== count) {
      assert.ok(Date.now() < deadline, `${queue} never held ${count} message(s)`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const headers = { id: 'task-1', task: 'spec.intents.task', retries: 0 };

  describe(`Queue intents: ${name}`, { timeout: 30_000 }, () => {
    after(async () => {
      await opts.cleanup?.(created);
    });

    it('a declaration carrying broker arguments instead of intents is refused, naming them', async () => {
      await withTransport(async (transport) => {
        const legacy = { name: `intents-args-${randomUUID()}`, arguments: { 'x-message-ttl': 50 } } as QueueDeclaration;
        await assert.rejects(transport.declareQueue(legacy), (e: unknown) => e instanceof ConfigError && e.option === 'arguments');
      });
    });

    it('a messageTtl expires messages, which go to deadLetterTo with a dead-letter record and clean headers', async () => {
      await withTransport(async (transport) => {
        const dead = await declare(transport, 'ttl-dead');
        const queue = await declare(transport, 'ttl', { messageTtl: 50, deadLetterTo: { queue: dead } });
        const dropping = await declare(transport, 'ttl-drop', { messageTtl: 50 });
        const before = Date.now();
        await transport.publish(message('late', { headers }), { exchange: '', routingKey: queue });
        await transport.publish(message('gone', { headers }), { exchange: '', routingKey: dropping });
        const delivery = await waitForGet(transport, dead);
        assert.equal(delivery.body.toString(), 'late');
        assert.deepEqual(delivery.properties.headers, headers, 'the broker trace is not among the headers');
        const record = delivery.deadLetter;
        assert.ok(record, 'a dead-letter record');
        assert.equal(record.reason, 'expired');
        assert.equal(record.queue, queue);
        assert.equal(record.exchange, '');
        assert.deepEqual(record.routingKeys, [queue]);
        assert.equal(record.count, 1);
        assert.ok(record.time instanceof Date, 'a time');
        // AMQP timestamps have whole seconds.
        assert.ok(
          record.time.getTime() >= Math.floor(before / 1000) * 1000 && record.time.getTime() <= Date.now() + 1000,
          `time ${record.time.toISOString()}`,
        );
        assert.equal(delivery.deliveryCount, undefined, 'a classic queue counts no deliveries');
        assert.ok(delivery.ack());
        await waitForCount(transport, dropping, 0);
        assert.equal(await transport.messageCount(queue), 0);
      });
    });

    it(
      'a rejected message goes through a deadLetterTo exchange with its routing key; ' +
        'the record names the queue and the original exchange',
      async () => {
        await withTransport(async (transport) => {
          const exchange = unique('dlx');
          const dead = await declare(transport, 'rejected-dead', { exchange, exchangeType: 'direct', routingKey: 'dead' });
          const source = unique('src');
          const queue = await declare(transport, 'rejected', {
            deadLetterTo: { exchange, routingKey: 'dead' },
            exchange: source,
            exchangeType: 'direct',
            routingKey: 'in',
          });
          created.exchanges.push(source);
          await transport.publish(message('no', { headers }), { exchange: source, routingKey: 'in' });
          const first = await waitForGet(transport, queue);
          assert.equal(first.deadLetter, undefined, 'not dead-lettered yet');
          assert.ok(first.reject(false));
          const delivery = await waitForGet(transport, dead);
          assert.equal(delivery.deadLetter?.reason, 'rejected');
          assert.equal(delivery.deadLetter?.queue, queue);
          assert.equal(delivery.deadLetter?.exchange, source);
          assert.deepEqual(delivery.deadLetter?.routingKeys, ['in']);
          assert.equal(delivery.exchange, exchange);
          assert.equal(delivery.routingKey, 'dead');
          assert.ok(delivery.ack());
        });
      },
    );

    it(
      'dead-lettered twice, the record is of the latest death and counts both; ' + 'published again from its properties, it is clean',
      async () => {
        await withTransport(async (transport) => {
          const last = await declare(transport, 'chain-last');
          const second = await declare(transport, 'chain-second', { messageTtl: 30, deadLetterTo: { queue: last } });
          const first = await declare(transport, 'chain-first', { messageTtl: 30, deadLetterTo: { queue: second } });
          const plain = await declare(transport, 'chain-plain');
          await transport.publish(message('twice', { headers }), { exchange: '', routingKey: first });
          const delivery = await waitForGet(transport, last);
          assert.equal(delivery.deadLetter?.reason, 'expired');
          assert.equal(delivery.deadLetter?.queue, second, 'the latest death');
          assert.equal(delivery.deadLetter?.count, 2);
          await transport.publish({ ...delivery.properties, body: delivery.body }, { exchange: '', routingKey: plain });
          assert.ok(delivery.ack());
          const again = await waitForGet(transport, plain);
          assert.equal(again.deadLetter, undefined, 'no trace follows the message');
          assert.deepEqual(again.properties.headers, headers);
          assert.ok(again.ack());
        });
      },
    );

    it('a quorum queue counts deliveries; past its deliveryLimit the message goes to deadLetterTo with reason delivery_limit', async () => {
      await withTransport(async (transport) => {
        const dead = await declare(transport, 'limit-dead');
        const queue = await declare(transport, 'limit', { type: 'quorum', deliveryLimit: 1, deadLetterTo: { queue: dead } });
        await transport.publish(message('again', { headers }), { exchange: '', routingKey: queue });
        for (const count of [0, 1]) {
          const delivery = await waitForGet(transport, queue);
          assert.equal(delivery.deliveryCount, count);
          assert.equal(delivery.redelivered, count > 0);
          assert.ok(delivery.reject(true));
        }
        const delivery = await waitForGet(transport, dead);
        assert.equal(delivery.deadLetter?.reason, 'delivery_limit');
        assert.equal(delivery.deadLetter?.queue, queue);
        assert.equal(delivery.deliveryCount, undefined, 'the dead-letter queue is classic');
        assert.deepEqual(delivery.properties.headers, headers);
        assert.ok(delivery.ack());
        assert.equal(await transport.messageCount(queue), 0);
      });
    });

    it('a priority above maxPriority counts as maxPriority', async () => {
      await withTransport(async (transport) => {
        const queue = await declare(transport, 'priority-cap', { maxPriority: 2 });
        for (const [body, priority] of [
          ['low', 1],
          ['capped', 200],
          ['top', 2],
        ] as const) {
          await transport.publish(message(body, { priority }), { exchange: '', routingKey: queue });
        }
        const order: string[] = [];
        for (let i = 0; i < 3; i++) {
          const delivery = await waitForGet(transport, queue);
          order.push(delivery.body.toString());
          assert.ok(delivery.ack());
        }
        assert.deepEqual(order, ['capped', 'top', 'low']);
      });
    });

    it('refusals are TransportErrors with a reason', async () => {
      await withTransport(async (transport) => {
        const missing = unique('missing');
        await assert.rejects(
          transport.messageCount(missing),
          (error: unknown) => error instanceof TransportError && error.reason === 'not-found' && !error.transient,
        );
        await assert.rejects(transport.get(missing), (error: unknown) => error instanceof TransportError && error.reason === 'not-found');
        const exchange = unique('typed');
        created.exchanges.push(exchange);
        await transport.declareExchange({ name: exchange, type: 'direct' });
        await assert.rejects(
          transport.declareExchange({ name: exchange, type: 'fanout' }),
          (error: unknown) =>
            error instanceof TransportError && error.code === 'CELERIAC_TRANSPORT' && error.reason === 'precondition-failed',
        );
        const declared = await declare(transport, 'redeclared', { messageTtl: 1000, deadLetterTo: { queue: missing } });
        const refused = (error: unknown) => error instanceof TransportError && error.reason === 'precondition-failed';
        await assert.rejects(transport.declareQueue({ name: declared, messageTtl: 2000, deadLetterTo: { queue: missing } }), refused);
        await assert.rejects(transport.declareQueue({ name: declared, messageTtl: 1000 }), refused);
        await assert.rejects(
          transport.declareQueue({ name: declared, messageTtl: 1000, deadLetterTo: { queue: missing }, maxPriority: 3 }),
          refused,
        );
        // The same intents, however spelled, are the same queue: a queue is reached through the default exchange.
        await transport.declareQueue({ name: declared, messageTtl: 1000, deadLetterTo: { exchange: '', routingKey: missing } });
        // The transport stays usable after a refusal.
        const queue = await declare(transport, 'after-refusal');
        assert.equal(await transport.messageCount(queue), 0);
      });
    });
  });
}
