import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryTransport } from '../../lib/broker/memory/memory-transport.js';
import type { TransportOptions } from '../../lib/broker/transport.js';
import { silentLogger } from '../../lib/log/logger.js';
import { Inbox, describeTransportConformance, message } from '../conformance/transport.conformance.js';
import { describeQueueIntentConformance } from '../conformance/transport-intents.conformance.js';

const options: TransportOptions = {
  heartbeatSeconds: 0,
  confirmTimeoutMs: 1000,
  connectMaxRetries: 0,
  connectInitialDelayMs: 10,
  connectMaxDelayMs: 100,
  logger: silentLogger(),
};

describeTransportConformance('memory', () => createMemoryTransport('memory://spec', options));
describeQueueIntentConformance('memory', () => createMemoryTransport('memory://spec', options));

describe('memory transport', () => {
  it('shares one broker between transports of the same URL, and none across URLs', async () => {
    const producer = createMemoryTransport('memory://shared', options);
    const worker = createMemoryTransport('memory://shared', options);
    const stranger = createMemoryTransport('memory://elsewhere', options);
    try {
      await worker.declareQueue({ name: 'spec.memory.shared' });
      await producer.publish(message('hi'), { exchange: '', routingKey: 'spec.memory.shared' });
      const inbox = new Inbox();
      await worker.consume(['spec.memory.shared'], { prefetch: 1 }, inbox.push);
      assert.equal((await inbox.take()).body.toString(), 'hi');
      await assert.rejects(stranger.messageCount('spec.memory.shared'), /NOT_FOUND/);
    } finally {
      await Promise.all([producer.close(), worker.close(), stranger.close()]);
    }
  });

  it('hands deliveries out asynchronously, never inside publish', async () => {
    const transport = createMemoryTransport('memory://async', options);
    try {
      await transport.declareQueue({ name: 'spec.memory.async' });
      let delivered = 0;
      await transport.consume(['spec.memory.async'], { prefetch: 5 }, (delivery) => {
        delivered += 1;
        delivery.ack();
      });
      const published = transport.publish(message('x'), { exchange: '', routingKey: 'spec.memory.async' });
      assert.equal(delivered, 0);
      await published;
      assert.equal(delivered, 0);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(delivered, 1);
    } finally {
      await transport.close();
    }
  });

  it("dead-letters rejected and expired messages through the queue's deadLetterTo exchange", async () => {
    const transport = createMemoryTransport('memory://dlx', options);
    // The broker's TTL timers do not hold the process open; this test must, until they fire.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await transport.declareQueue({ name: 'spec.memory.dead', exchange: 'spec.memory.dlx', routingKey: 'work' });
      await transport.declareQueue({
        name: 'spec.memory.work',
        deadLetterTo: { exchange: 'spec.memory.dlx', routingKey: 'work' },
      });
      await transport.publish(message('rejected'), { exchange: '', routingKey: 'spec.memory.work' });
      const inbox = new Inbox();
      const handle = await transport.consume(['spec.memory.work'], { prefetch: 1 }, inbox.push);
      assert.ok((await inbox.take()).reject(false));
      await handle.cancel();
      await transport.publish(message('expired', { expiration: '1' }), { exchange: '', routingKey: 'spec.memory.work' });
      const dead = new Inbox();
      await transport.consume(['spec.memory.dead'], { prefetch: 5 }, dead.push);
      const [first, second] = await dead.takeMany(2);
      assert.deepEqual([first.deadLetter?.reason, second.deadLetter?.reason], ['rejected', 'expired']);
      assert.equal(second.properties.expiration, undefined);
    } finally {
      clearInterval(keepAlive);
      await transport.close();
    }
  });
});
