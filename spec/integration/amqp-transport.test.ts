import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import amqp from 'amqplib';
import { createAmqpTransport } from '../../lib/broker/amqp/transport.js';
import type { Delivery, Transport, TransportOptions } from '../../lib/broker/transport.js';
import { BrokerAccessRefusedError, BrokerConnectionError, ConfigError, PublishError } from '../../lib/errors/errors.js';
import { Inbox, describeTransportConformance, message } from '../conformance/transport.conformance.js';
import { describeQueueIntentConformance } from '../conformance/transport-intents.conformance.js';
import { captureLogger } from '../support/capture-logger.js';
import { deleteCreated } from '../support/rabbitmq-queues.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { SpecResources, specTransportOptions } from '../support/transport-fixture.js';

const BROKER = 'amqp://guest:guest@127.0.0.1:5672';

const options = (overrides: Partial<TransportOptions> = {}): TransportOptions =>
  specTransportOptions({ confirmTimeoutMs: 15_000, ...overrides });

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describeTransportConformance('amqp', () => createAmqpTransport(BROKER, options()), { cleanup: deleteCreated });
describeQueueIntentConformance('amqp', () => createAmqpTransport(BROKER, options()), { cleanup: deleteCreated });

describe('amqp transport', { timeout: 60_000 }, () => {
  const resources = new SpecResources('spec.amqp');
  const queueName = (label: string): string => resources.queueName(label);
  const track = <T extends Transport | TcpProxy>(thing: T): T => resources.track(thing);
  after(() => resources.release());

  it('opens nothing until used, then one connection to consume and another to publish', async () => {
    const proxy = track(await startTcpProxy());
    const transport = track(createAmqpTransport(proxy.urlFor(BROKER), options()));
    assert.equal(proxy.accepted, 0);
    const queue = queueName('lazy');
    await transport.declareQueue({ name: queue });
    assert.equal(proxy.accepted, 1);
    await transport.publish(message('x'), { exchange: '', routingKey: queue });
    assert.equal(proxy.accepted, 2);
    assert.equal(await transport.messageCount(queue), 1);
    assert.equal(proxy.accepted, 2);
    await transport.close();
  });

  it('recovers from cut connections: resumes consumers, re-sends unconfirmed publishes, never double-acks', async () => {
    const proxy = track(await startTcpProxy());
    const { logger, lines } = captureLogger();
    const transport = track(createAmqpTransport(proxy.urlFor(BROKER), options({ logger })));
    const queue = queueName('reconnect');
    await transport.declareQueue({ name: queue });

    const seen = new Set<string>();
    const held: Delivery[] = [];
    let holding = true;
    let redelivered = 0;
    await transport.consume([queue], { prefetch: 20 }, (delivery) => {
      seen.add(delivery.body.toString());
      if (delivery.redelivered) redelivered += 1;
      if (holding) held.push(delivery);
      else delivery.ack();
    });
    await Promise.all(Array.from({ length: 50 }, (_, i) => transport.publish(message(`a${i}`), { exchange: '', routingKey: queue })));
    await until(() => held.length === 20);

    const lost = [...held];
    proxy.cut();
    await until(() => lines.filter((line) => line.includes('consume connection lost')).length >= 1);
    assert.deepEqual(
      lost.map((delivery) => delivery.ack()),
      Array(20).fill(false),
      'deliveries of a lost channel do not settle',
    );
    holding = false;
    // The consumer may have resumed already: what it handed out since (redelivered) settles normally.
    for (const delivery of held.slice(lost.length)) assert.equal(delivery.ack(), true);

    // Publishes in flight when the connection drops are written again and all resolve.
    await transport.publish(message('reconnected'), { exchange: '', routingKey: queue });
    const acceptedBefore = proxy.accepted;
    const second = Array.from({ length: 50 }, (_, i) => transport.publish(message(`b${i}`), { exchange: '', routingKey: queue }));
    proxy.cut();
    await Promise.all(second);
    assert.ok(proxy.accepted > acceptedBefore, 'the second batch was in flight on a connection that was cut');
    await until(() => seen.size === 101);

    assert.ok(redelivered >= 20, `the 20 held deliveries come back redelivered (saw ${redelivered})`);
    assert.ok(lines.some((line) => /publish connection lost/.test(line)));
    // The reply code as a word: the proxy's port (in every line's URL) may contain "406".
    assert.deepEqual(
      lines.filter((line) => /\b406\b|PRECONDITION|unknown delivery tag|closed the consumer channel|threw/.test(line)),
      [],
    );
    assert.ok(proxy.accepted >= 4, 'both connections were re-opened');
    await transport.close();
  });

  it('recovers when the broker itself closes the connection (CONNECTION_FORCED)', async () => {
    const proxy = track(await startTcpProxy());
    const { logger, lines } = captureLogger();
    const transport = track(createAmqpTransport(proxy.urlFor(BROKER), options({ logger })));
    const queue = queueName('forced');
    await transport.declareQueue({ name: queue, durable: false, autoDelete: false, exclusive: true });
    const inbox = new Inbox();
    await transport.consume([queue], { prefetch: 5 }, inbox.push);
    await transport.publish(message('before'), { exchange: '', routingKey: queue });
    assert.ok((await inbox.take()).ack());

    // Close only this spec's connections, found by the proxy's local ports.
    const ports = new Set(proxy.upstreamPorts().map(String));
    const run = promisify(execFile);
    const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'peer_port']);
    const pids = stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([pid, port]) => pid && port && ports.has(port))
      .map(([pid]) => pid);
    assert.equal(pids.length, 2);
    for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, 'spec']);

    await until(() => lines.filter((line) => line.includes('connection lost')).length === 2);
    await until(() => lines.some((line) => line.includes('connected (consume)')));
    // The exclusive queue died with its connection; it is declared again before the consumer resumes.
    await transport.publish(message('after'), { exchange: '', routingKey: queue });
    const delivery = await inbox.take();
    assert.equal(delivery.body.toString(), 'after');
    assert.ok(delivery.ack());
    assert.ok(
      lines.some((line) => /CONNECTION_FORCED|320/.test(line)),
      lines.join('\n'),
    );
    await transport.close();
  });

  it('rejects with "confirm-timeout" when no confirm comes in time, and keeps working after', async () => {
    const proxy = track(await startTcpProxy());
    const transport = track(createAmqpTransport(proxy.urlFor(BROKER), options({ confirmTimeoutMs: 300 })));
    const queue = queueName('timeout');
    await transport.declareQueue({ name: queue });
    await transport.publish(message('warm'), { exchange: '', routingKey: queue });
    proxy.stall();
    await assert.rejects(transport.publish(message('stuck'), { exchange: '', routingKey: queue }), (error: unknown) => {
      assert.ok(error instanceof PublishError);
      assert.equal(error.reason, 'confirm-timeout');
      return true;
    });
    proxy.resume();
    await transport.publish(message('fine'), { exchange: '', routingKey: queue });
    await transport.close();
  });

  it('acks made just before close reach the broker: nothing settled is redelivered', async () => {
    const queue = queueName('acks-at-close');
    const producer = track(createAmqpTransport(BROKER, options()));
    await producer.declareQueue({ name: queue });
    await Promise.all(Array.from({ length: 200 }, (_, i) => producer.publish(message(String(i)), { exchange: '', routingKey: queue })));
    const consumer = createAmqpTransport(BROKER, options());
    let acked = 0;
    const allAcked = new Promise<void>((resolve) => {
      void consumer.consume([queue], { prefetch: 200 }, (delivery) => {
        assert.ok(delivery.ack());
        if (++acked === 200) resolve();
      });
    });
    await allAcked;
    // Closed in the same turn as the last acks, before any batched ack was flushed by itself.
    await consumer.close();
    assert.equal(await producer.messageCount(queue), 0);
    await producer.deleteQueue(queue);
    await producer.close();
  });

  it('times out only while the broker confirms nothing: a bulk send that queues longer than confirmTimeout succeeds', async () => {
    const confirmTimeoutMs = 1_500;
    const transport = track(createAmqpTransport(BROKER, options({ confirmTimeoutMs })));
    const queue = queueName('bulk-timeout');
    await transport.declareQueue({ name: queue });
    // The point of the spec: the last publishes of a bulk wait far longer than confirmTimeout.
    // How long a bulk takes depends on the machine, so it doubles until one took longer.
    let sent = 0;
    let longEnough = false;
    for (let total = 20_000; !longEnough && total <= 160_000; total *= 2) {
      const started = performance.now();
      const outcomes = await Promise.allSettled(
        Array.from({ length: total }, (_, i) => transport.publish(message(String(i)), { exchange: '', routingKey: queue })),
      );
      const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
      assert.equal(
        failed.length,
        0,
        `${failed.length} of ${total} rejected, e.g. ${String((failed[0] as PromiseRejectedResult | undefined)?.reason)}`,
      );
      sent += total;
      longEnough = performance.now() - started > confirmTimeoutMs;
      assert.equal(await transport.purge(queue), total);
    }
    assert.ok(longEnough, `no bulk of up to 160,000 publishes took longer than confirmTimeout (${sent} sent)`);
    await transport.deleteQueue(queue);
    await transport.close();
  });

  it('counts confirmTimeout from when a publish reaches the socket, not while this process is too busy to write it', async () => {
    const confirmTimeoutMs = 1_000;
    const transport = track(createAmqpTransport(BROKER, options({ confirmTimeoutMs })));
    const queue = queueName('busy-publisher');
    await transport.declareQueue({ name: queue });
    await transport.publish(message('warm-up'), { exchange: '', routingKey: queue });
    const sent = transport.publish(message('written late'), { exchange: '', routingKey: queue });
    // Blocks the event loop for three timeouts: the message is still in amqplib's buffer after it.
    const busyUntil = performance.now() + 3 * confirmTimeoutMs;
    while (performance.now() < busyUntil);
    await sent;
    assert.equal(await transport.messageCount(queue), 2);
    await transport.deleteQueue(queue);
    await transport.close();
  });

  it('honours backpressure: 20,000 publishes without awaiting each all arrive', async () => {
    const transport = track(createAmqpTransport(BROKER, options({ confirmTimeoutMs: 60_000 })));
    const queue = queueName('backpressure');
    await transport.declareQueue({ name: queue, durable: false });
    const body = 'x'.repeat(1024);
    const total = 20_000;
    await Promise.all(
      Array.from({ length: total }, (_, i) => transport.publish(message(`${i}:${body}`), { exchange: '', routingKey: queue })),
    );
    assert.equal(await transport.messageCount(queue), total);
    assert.equal(await transport.purge(queue), total);
    await transport.close();
  });

  it('keeps at most maxUnconfirmedPublishes written and unconfirmed; the rest follow in order as confirms come', async () => {
    // Counts, on amqplib's ConfirmChannel, publishes written whose confirm has not come yet.
    // amqplib exports no ConfirmChannel class; every confirm channel shares one prototype.
    const probe = await amqp.connect(BROKER);
    const ConfirmChannel = {
      prototype: Object.getPrototypeOf(await probe.createConfirmChannel()) as { publish: (...args: unknown[]) => boolean },
    };
    await probe.close();
    const original = ConfirmChannel.prototype.publish;
    let outstanding = 0;
    let most = 0;
    ConfirmChannel.prototype.publish = function (this: unknown, ...args: unknown[]) {
      const confirmed = args[4] as ((error: unknown) => void) | undefined;
      outstanding++;
      most = Math.max(most, outstanding);
      args[4] = (error: unknown) => {
        outstanding--;
        confirmed?.(error);
      };
      return original.apply(this, args);
    };
    const sendAll = async (transport: Transport, queue: string, total: number): Promise<string[]> => {
      await transport.declareQueue({ name: queue, durable: false });
      await Promise.all(
        Array.from({ length: total }, (_, i) => transport.publish(message(String(i)), { exchange: '', routingKey: queue })),
      );
      const bodies: string[] = [];
      for (let delivery = await transport.get(queue); delivery; delivery = await transport.get(queue)) {
        bodies.push(delivery.body.toString());
        delivery.ack();
      }
      return bodies;
    };
    try {
      const windowed = track(createAmqpTransport(BROKER, options({ maxUnconfirmedPublishes: 3 })));
      assert.deepEqual(
        await sendAll(windowed, queueName('window'), 200),
        Array.from({ length: 200 }, (_, i) => String(i)),
      );
      assert.ok(most >= 1 && most <= 3, `at most 3 unconfirmed at a time, saw ${most}`);
      // The same without a limit: all 200 go out at once (so the count above is not vacuous).
      most = 0;
      const unlimited = track(createAmqpTransport(BROKER, options()));
      assert.equal((await sendAll(unlimited, queueName('no-window'), 200)).length, 200);
      assert.ok(most > 3, `without a limit more than 3 were unconfirmed at once, saw ${most}`);
    } finally {
      ConfirmChannel.prototype.publish = original;
    }
  });

  it('with maxUnconfirmedPublishes, publishes written and waiting when the connection drops all arrive', async () => {
    const proxy = track(await startTcpProxy());
    const transport = track(createAmqpTransport(proxy.urlFor(BROKER), options({ maxUnconfirmedPublishes: 5 })));
    const queue = queueName('window-reconnect');
    await transport.declareQueue({ name: queue, durable: false });
    await transport.publish(message('first'), { exchange: '', routingKey: queue }); // the publish connection is open
    const sends = Array.from({ length: 100 }, (_, i) => transport.publish(message(`w${i}`), { exchange: '', routingKey: queue }));
    proxy.cut();
    await Promise.all(sends);
    const bodies = new Set<string>();
    for (let delivery = await transport.get(queue); delivery; delivery = await transport.get(queue)) {
      bodies.add(delivery.body.toString());
      delivery.ack();
    }
    // At least once: a publish the broker took before the cut may arrive twice, none is missing.
    for (let i = 0; i < 100; i++) assert.ok(bodies.has(`w${i}`), `w${i} arrived`);
    await transport.close();
  });

  it('gives up on an unreachable broker with BrokerConnectionError, never showing the password', async () => {
    const { logger, lines } = captureLogger();
    const transport = track(
      createAmqpTransport(
        'amqp://guest:secret@127.0.0.1:1',
        options({ connectMaxRetries: 2, connectInitialDelayMs: 10, connectMaxDelayMs: 20, logger }),
      ),
    );
    assert.equal(transport.url.includes('secret'), false);
    for (const operation of [
      () => transport.publish(message('x'), { exchange: '', routingKey: 'spec.never' }),
      () => transport.declareQueue({ name: 'spec.never' }),
    ]) {
      await assert.rejects(operation(), (error: unknown) => {
        assert.ok(error instanceof BrokerConnectionError, String(error));
        assert.match(error.message, /127\.0\.0\.1:1\b/);
        assert.match(error.message, /ECONNREFUSED/);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      });
    }
    assert.ok(
      lines.some((line) =>
        /^warn: broker amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1 unreachable \(ECONNREFUSED\); retry 2 in \d+\.\ds$/.test(line),
      ),
      lines.join('\n'),
    );
    assert.equal(
      lines.some((line) => line.includes('retry 3')),
      false,
      'two retries, then it gives up',
    );
    assert.equal(
      lines.some((line) => line.includes('secret')),
      false,
    );
    await transport.close();
  });

  it('a publish whose headers cannot be encoded fails alone: the publishes in flight beside it each arrive once', async () => {
    const transport = track(createAmqpTransport(BROKER, options()));
    const queue = queueName('unencodable');
    await transport.declareQueue({ name: queue, durable: false });
    const total = 400;
    const huge = { ...message('too big'), headers: { argsrepr: 'x'.repeat(70_000) } };
    const sends = Array.from({ length: total }, (_, i) => transport.publish(message(String(i)), { exchange: '', routingKey: queue }));
    const refused = transport.publish(huge, { exchange: '', routingKey: queue });
    sends.push(
      ...Array.from({ length: total }, (_, i) => transport.publish(message(String(total + i)), { exchange: '', routingKey: queue })),
    );
    await assert.rejects(
      refused,
      (error: unknown) => error instanceof RangeError && /exceeds the \d+ byte encoding buffer/.test(error.message),
    );
    await Promise.all(sends);
    const bodies: string[] = [];
    for (let delivery = await transport.get(queue); delivery; delivery = await transport.get(queue)) {
      bodies.push(delivery.body.toString());
      delivery.ack();
    }
    assert.equal(bodies.length, 2 * total, 'none sent twice, none lost');
    assert.equal(new Set(bodies).size, 2 * total);
    await transport.deleteQueue(queue);
  });

  it('fails at once, without retrying, when the broker refuses the login or the virtual host', async () => {
    const { logger, lines } = captureLogger();
    // Retrying forever is the setting under which a refusal used to be retried like a network fault.
    const cases = [
      { url: 'amqp://guest:not-the-password@127.0.0.1:5672', why: /refused the login of user 'guest' \(ACCESS_REFUSED/ },
      {
        url: `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(`spec-no-vhost-${randomUUID()}`)}`,
        why: /refused to open virtual host 'spec-no-vhost-[0-9a-f-]+' for user 'guest'/,
      },
    ];
    for (const { url, why } of cases) {
      const transport = track(
        createAmqpTransport(url, options({ connectMaxRetries: null, connectInitialDelayMs: 10, connectMaxDelayMs: 20, logger })),
      );
      const started = Date.now();
      await assert.rejects(transport.publish(message('x'), { exchange: '', routingKey: 'spec.never' }), (error: unknown) => {
        assert.ok(error instanceof BrokerAccessRefusedError, String(error));
        assert.ok(error instanceof BrokerConnectionError, 'a BrokerConnectionError too');
        assert.equal(error.code, 'CELERIAC_BROKER_ACCESS_REFUSED');
        assert.match(error.message, why);
        assert.doesNotMatch(error.message, /not-the-password/);
        return true;
      });
      // A later operation does not wait out a retry loop either.
      await assert.rejects(transport.declareQueue({ name: 'spec.never' }), BrokerAccessRefusedError);
      assert.ok(Date.now() - started < 10_000, 'no backoff loop');
      await transport.close();
    }
    assert.equal(
      lines.some((line) => /unreachable|retry \d/.test(line)),
      false,
      lines.join('\n'),
    );
    assert.equal(
      lines.some((line) => line.includes('not-the-password')),
      false,
    );
  });

  it(
    'passes maxFrameSize to the connection: ' + 'a frame over it closes the connection, a broker that splits frames to fit is read whole',
    async () => {
      const queue = queueName('frames');
      const sender = track(createAmqpTransport(BROKER, options()));
      await sender.declareQueue({ name: queue, durable: false });
      const body = 'y'.repeat(100_000);
      const read = async (url: string): Promise<{ body: string | null; lines: string[] }> => {
        const { logger, lines } = captureLogger();
        const transport = track(createAmqpTransport(url, options({ maxFrameSize: 4096, connectMaxRetries: 0, logger })));
        await sender.publish(message(body), { exchange: '', routingKey: queue });
        const delivery = await transport.get(queue).catch(() => null);
        delivery?.ack();
        await transport.close();
        return { body: delivery ? delivery.body.toString() : null, lines };
      };
      // The broker negotiates 4096-byte frames and splits the 100 kB body into them.
      const fitting = await read(`${BROKER}?frameMax=4096`);
      assert.equal(fitting.body, body);
      // With the default frame size (128 KiB) the body comes in one frame, over the limit.
      const oversized = await read(BROKER);
      assert.equal(oversized.body, null);
      assert.ok(
        oversized.lines.some((line) => /Frame size \d+ exceeds maxFrameSize 4096/.test(line)),
        oversized.lines.join('\n'),
      );
      assert.equal(await sender.messageCount(queue), 1, 'the refused message went back to the queue');
      await sender.deleteQueue(queue);
    },
  );

  it('accepts amqps:// (TLS by amqplib) and refuses other schemes', async () => {
    const transport = track(createAmqpTransport('amqps://guest:guest@127.0.0.1:5672', options({ connectMaxRetries: 0 })));
    assert.match(transport.url, /^amqps:\/\/guest:\*\*\*@127\.0\.0\.1:5672/);
    // The broker on 5672 speaks plain AMQP, so the TLS handshake fails: proof that TLS was attempted.
    await assert.rejects(transport.declareQueue({ name: 'spec.never' }), BrokerConnectionError);
    await transport.close();
    assert.throws(() => createAmqpTransport('redis://127.0.0.1:6379', options()), ConfigError);
  });
});
