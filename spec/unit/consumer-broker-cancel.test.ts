import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Delivery } from '../../lib/broker/transport.js';
import { captureLogger } from '../support/capture-logger.js';
import { consumersOnFakeChannels } from '../support/fake-consume-channel.js';

/** Waits for a condition (checked every few ms), failing with `what` if it does not come within 10 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets queued timers and the ack batcher's flush (once per turn of the event loop) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/**
 * The AMQP consumer when the broker cancels it (basic.cancel: a queue deleted, a quorum queue's
 * leader moving, a node going down): it consumes the queue again on the same channel, so what
 * was delivered before stays settle-able there, once.
 */
describe('AMQP consumer: a consumer the broker cancelled', () => {
  it('consumes again on the same channel after restoring the queue; deliveries in flight are acked there, once', async () => {
    const { logger, lines } = captureLogger();
    const { consumers, channels, queues } = consumersOnFakeChannels(logger);
    queues.owned.add('q');
    queues.existing.add('q');
    const received: Delivery[] = [];
    await consumers.consume(['q'], { prefetch: 10 }, (delivery) => received.push(delivery));
    const [channel] = channels;
    const before = [channel.deliver('q'), channel.deliver('q')];

    channel.brokerCancel('q');
    await until(() => channel.consumers.size === 1, 'q is consumed again');
    assert.deepEqual(channel.consumed, ['q', 'q'], 'consumed again on the same channel');
    assert.deepEqual(queues.restored, ['q'], 'the queue was restored (re-declared: this transport owns it) first');
    assert.equal(channels.length, 1, 'no other channel was opened');
    assert.equal(channel.closed, false, 'the channel stayed open');

    assert.equal(received[0].ack(), true);
    assert.equal(received[1].ack(), true);
    assert.equal(received[1].ack(), false, 'settled once');
    const after = channel.deliver('q');
    await until(() => received.length === 3, 'a delivery after the cancel is handed out');
    assert.equal(received[2].ack(), true);
    await settle();
    assert.deepEqual(
      channel.acks,
      [{ tag: after, multiple: true }],
      `the two in flight and the one after, acked on their channel in one multiple ack (tags ${before.join(', ')}, ${after})`,
    );
    assert.deepEqual(channel.rejects, []);
    assert.ok(
      lines.some((line) => /^warn: broker amqp:\/\/fake cancelled the consumer of queue q .*2 deliveries in flight/.test(line)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => line.startsWith('info: broker amqp://fake: consuming queue q again')),
      lines.join('\n'),
    );
    await consumers.close();
  });

  it('a queue it did not declare is waited for, with backoff, until it exists again', async () => {
    const { consumers, channels, queues } = consumersOnFakeChannels();
    queues.existing.add('theirs');
    await consumers.consume(['theirs'], { prefetch: 1 }, () => undefined);
    const [channel] = channels;
    channel.brokerCancel('theirs');
    queues.existing.delete('theirs');
    await until(() => queues.restored.length >= 3, 'the queue is looked for again and again');
    assert.equal(channel.consumers.size, 0, 'not consumed while it is missing');
    queues.existing.add('theirs');
    await until(() => channel.consumers.size === 1, 'consumed once it is back');
    assert.deepEqual(channel.consumed, ['theirs', 'theirs']);
    assert.equal(channel.closed, false);
    await consumers.close();
  });

  it('only the cancelled queue is consumed again; the other queues of the channel go on as they were', async () => {
    const { consumers, channels, queues } = consumersOnFakeChannels();
    for (const queue of ['a', 'b']) queues.owned.add(queue);
    const received: Delivery[] = [];
    await consumers.consume(['a', 'b'], { prefetch: 5 }, (delivery) => received.push(delivery));
    const [channel] = channels;
    channel.deliver('a');
    channel.brokerCancel('b');
    await until(() => channel.consumed.length === 3, 'b is consumed again');
    assert.deepEqual(channel.consumed, ['a', 'b', 'b']);
    assert.deepEqual(queues.restored, ['b']);
    assert.equal(received[0].ack(), true, 'the delivery from a is still settle-able');
    await consumers.close();
  });

  it('a consumer cancelled by its owner meanwhile is not consumed again, and its channel closes', async () => {
    const { consumers, channels, queues } = consumersOnFakeChannels();
    queues.owned.add('q');
    const handle = await consumers.consume(['q'], { prefetch: 1 }, () => undefined);
    const [channel] = channels;
    channel.brokerCancel('q');
    await handle.cancel();
    await settle();
    await settle();
    assert.deepEqual(channel.consumed, ['q'], 'no consume after the cancel');
    assert.equal(channel.closed, true);
    await consumers.close();
  });

  it('the channel closing before the queue is back: the consumer is reopened on a new channel, the queue restored first', async () => {
    const { consumers, channels, queues } = consumersOnFakeChannels();
    queues.existing.add('theirs');
    await consumers.consume(['theirs'], { prefetch: 1 }, () => undefined);
    const [first] = channels;
    queues.existing.delete('theirs');
    first.brokerCancel('theirs');
    await first.close(); // e.g. the broker closed it (consumer_timeout)
    await until(() => queues.restored.length >= 2, 'the reopen looks for the queue');
    assert.equal(channels.length, 1, 'no channel opened while the queue is missing (its consume would close it)');
    queues.existing.add('theirs');
    await until(() => channels.length === 2 && channels[1].consumers.size === 1, 'reopened on a new channel once the queue is back');
    assert.deepEqual(first.consumed, ['theirs'], 'nothing more on the closed channel');
    await consumers.close();
  });
});
