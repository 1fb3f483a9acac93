import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createAmqpTransport } from '../../lib/broker/amqp/transport.js';
import type { Delivery, Transport } from '../../lib/broker/transport.js';
import { BrokerAccessRefusedError, BrokerConnectionError } from '../../lib/errors/errors.js';
import { message } from '../conformance/transport.conformance.js';
import { captureLogger } from '../support/capture-logger.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { SpecResources, specTransportOptions } from '../support/transport-fixture.js';

/**
 * Broker lists against the shared RabbitMQ node: each "node" of a list is a TCP proxy in front of
 * it, so a node can go away (the proxy closes: connections reset, new ones refused) or freeze
 * (the proxy stalls) without touching the shared node. The real three-node cluster is
 * spec/cluster's.
 */
const BROKER = 'amqp://guest:guest@127.0.0.1:5672';
/** Nothing listens there: connecting is refused at once. */
const DEAD = 'amqp://guest:guest@127.0.0.1:1';
const redacted = (url: string): string => url.replace(/:guest@/, ':***@').replace(/\/$/, '');

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('broker lists', { timeout: 120_000 }, () => {
  const resources = new SpecResources('spec.broker-list');
  const queueName = (label: string): string => resources.queueName(label);
  const track = <T extends Transport | TcpProxy>(thing: T): T => resources.track(thing);
  after(() => resources.release());

  it('goes to the next node at once when one is down (no backoff within a pass), and logs the node each line is about', async () => {
    const { logger, lines } = captureLogger();
    const proxy = track(await startTcpProxy());
    const live = proxy.urlFor(BROKER);
    // A backoff would wait up to a minute: the pass through the list must not.
    const transport = track(createAmqpTransport(`${DEAD};${live}`, specTransportOptions({ logger, connectInitialDelayMs: 60_000 })));
    const queue = queueName('next');
    await transport.declareQueue({ name: queue, durable: false });
    await transport.publish(message('x'), { exchange: '', routingKey: queue });
    assert.equal(await transport.messageCount(queue), 1);
    assert.ok(lines.includes(`warn: broker ${redacted(DEAD)} unreachable (ECONNREFUSED); trying ${redacted(live)}`), lines.join('\n'));
    assert.ok(lines.includes(`info: broker ${redacted(live)} connected (consume)`), lines.join('\n'));
    assert.ok(lines.includes(`info: broker ${redacted(live)} connected (publish)`), lines.join('\n'));
    assert.equal(
      lines.some((line) => /retry \d/.test(line) || line.includes(':guest@')),
      false,
      lines.join('\n'),
    );
    await transport.close();
  });

  it('fails over when its node goes away: consumers resume on the next node, unconfirmed publishes are written again', async () => {
    const { logger, lines } = captureLogger();
    const first = track(await startTcpProxy());
    const second = track(await startTcpProxy());
    const [urlA, urlB] = [first.urlFor(BROKER), second.urlFor(BROKER)];
    const transport = track(createAmqpTransport(`${urlA};${urlB}`, specTransportOptions({ logger })));
    const queue = queueName('failover');
    await transport.declareQueue({ name: queue });
    const seen = new Map<string, number>();
    const held: Delivery[] = [];
    let holding = true;
    await transport.consume([queue], { prefetch: 20 }, (delivery) => {
      const body = delivery.body.toString();
      seen.set(body, (seen.get(body) ?? 0) + 1);
      if (holding) held.push(delivery);
      else delivery.ack();
    });
    await transport.publish(message('warm-up'), { exchange: '', routingKey: queue });
    assert.equal(second.accepted, 0, 'round-robin: both connections went to the first node');
    await until(() => held.length === 1, 'the first delivery');

    // Sends in flight when the node goes: written again on the next node, every one confirmed.
    const sends = Array.from({ length: 2000 }, (_, i) => transport.publish(message(`m${i}`), { exchange: '', routingKey: queue }));
    await until(() => held.length === 20, 'a full prefetch held');
    await first.close();
    holding = false;
    await Promise.all(sends);
    await until(() => [...Array(2000).keys()].every((i) => seen.has(`m${i}`)), 'every message delivered');
    assert.deepEqual(
      held.map((delivery) => delivery.ack()),
      Array(20).fill(false),
      'deliveries of the lost node do not settle; the broker gives them out again',
    );
    assert.ok(second.accepted >= 2, 'both connections moved to the second node');
    for (const role of ['consume', 'publish']) {
      assert.ok(lines.includes(`info: broker ${redacted(urlB)} connected (${role})`), lines.join('\n'));
      assert.ok(
        lines.some((line) => line.startsWith(`warn: broker ${redacted(urlA)} ${role} connection lost (`)),
        lines.join('\n'),
      );
    }
    assert.deepEqual(
      lines.filter((line) => /\b406\b|PRECONDITION|unknown delivery tag|threw/.test(line)),
      [],
    );
    await transport.close();
  });

  it('a node frozen past the heartbeat: heartbeats notice it and the client moves to the next node', async () => {
    const { logger, lines } = captureLogger();
    const first = track(await startTcpProxy());
    const second = track(await startTcpProxy());
    const [urlA, urlB] = [first.urlFor(BROKER), second.urlFor(BROKER)];
    const transport = track(createAmqpTransport(`${urlA};${urlB}`, specTransportOptions({ logger, heartbeatSeconds: 1 })));
    const queue = queueName('frozen');
    await transport.declareQueue({ name: queue, durable: false });
    await transport.publish(message('before'), { exchange: '', routingKey: queue });
    first.stall();
    // Written to the frozen node, confirmed by the next one.
    await transport.publish(message('during'), { exchange: '', routingKey: queue });
    assert.equal(await transport.messageCount(queue), 2);
    // Whichever side notices first: the client's heartbeat, or the broker's, which drops the
    // proxy's upstream connection (and the proxy then the client's).
    assert.ok(
      lines.some((line) => line.startsWith(`warn: broker ${redacted(urlA)} publish connection lost (`)),
      lines.join('\n'),
    );
    assert.ok(lines.includes(`info: broker ${redacted(urlB)} connected (publish)`), lines.join('\n'));
    first.resume();
    await transport.close();
  });

  it('a node that refuses the login is passed over; refused by every node, operations fail at once', async () => {
    const { logger, lines } = captureLogger();
    const first = track(await startTcpProxy());
    const second = track(await startTcpProxy());
    const wrong = first.urlFor('amqp://guest:not-the-password@127.0.0.1:5672');
    const right = second.urlFor(BROKER);
    const transport = track(createAmqpTransport(`${wrong};${right}`, specTransportOptions({ logger, connectInitialDelayMs: 60_000 })));
    const queue = queueName('refused');
    await transport.declareQueue({ name: queue, durable: false });
    assert.ok(
      lines.some(
        (line) =>
          line.startsWith(`error: broker amqp://guest:***@127.0.0.1:${first.port} refused the login of user 'guest'`) &&
          line.endsWith(`; trying ${redacted(right)}`),
      ),
      lines.join('\n'),
    );
    await transport.close();

    // Every node refuses (users are the cluster's: one refusal is everyone's, but each node is asked).
    const everyone = track(
      createAmqpTransport(`${wrong};${second.urlFor('amqp://guest:also-wrong@127.0.0.1:5672')};${DEAD}`, specTransportOptions({ logger })),
    );
    await assert.rejects(everyone.publish(message('x'), { exchange: '', routingKey: queue }), (error: unknown) => {
      assert.ok(error instanceof BrokerAccessRefusedError, String(error));
      assert.match(error.message, /refused the login of user 'guest'/);
      return true;
    });
    await assert.rejects(everyone.declareQueue({ name: queue, durable: false }), BrokerAccessRefusedError);
    assert.equal(
      lines.some((line) => /retry \d|not-the-password|also-wrong/.test(line)),
      false,
      lines.join('\n'),
    );
    await everyone.close();
  });

  it('gives up after connectMaxRetries failed attempts over the whole list, naming the list without passwords', async () => {
    const { logger, lines } = captureLogger();
    const other = 'amqp://guest:secret@127.0.0.1:2';
    const transport = track(
      createAmqpTransport(
        `${DEAD};${other}`,
        specTransportOptions({ logger, connectMaxRetries: 3, connectInitialDelayMs: 10, connectMaxDelayMs: 20 }),
      ),
    );
    await assert.rejects(transport.publish(message('x'), { exchange: '', routingKey: 'spec.never' }), (error: unknown) => {
      assert.ok(error instanceof BrokerConnectionError, String(error));
      assert.equal(
        error.message,
        'broker amqp://guest:***@127.0.0.1:1;amqp://guest:***@127.0.0.1:2: no node reachable after 4 connection attempts ' +
          '(last: amqp://guest:***@127.0.0.1:2 unreachable (ECONNREFUSED))',
      );
      return true;
    });
    // One backoff per pass through the list: after attempt 2, not after attempt 1 or 3.
    assert.deepEqual(
      lines.map((line) => line.replace(/in \d+\.\ds$/, 'in Ns')),
      [
        'warn: broker amqp://guest:***@127.0.0.1:1 unreachable (ECONNREFUSED); trying amqp://guest:***@127.0.0.1:2',
        'warn: broker amqp://guest:***@127.0.0.1:2 unreachable (ECONNREFUSED); retry 2 in Ns',
        'warn: broker amqp://guest:***@127.0.0.1:1 unreachable (ECONNREFUSED); trying amqp://guest:***@127.0.0.1:2',
      ],
    );
    await transport.close();
  });
});
