import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { PublishError } from '../../lib/errors/errors.js';
import { publisherOnFakeChannels, type FakeChannel } from '../support/fake-confirm-channel.js';

const task = (id: string): OutgoingMessage => ({
  body: Buffer.from('[]'),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { id },
  messageId: id,
});
const TARGET = { exchange: '', routingKey: 'q' };

/** Waits until `channels[index]` exists and holds `count` writes (the publisher writes again after its retry pause). */
async function writes(channels: FakeChannel[], index: number, count: number): Promise<FakeChannel> {
  for (let turns = 0; (channels[index]?.published.length ?? 0) < count; turns++) {
    if (turns > 5000) throw new Error(`channel ${index}: only ${channels[index]?.published.length ?? 0} of ${count} writes`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return channels[index];
}

function closed(channel: FakeChannel): () => boolean {
  let isClosed = false;
  channel.once('close', () => (isClosed = true));
  return () => isClosed;
}

describe('AMQP publisher: nacks', () => {
  it('a nacked publish (quorum queue changing leader) is written again on a new channel; the nacking one closes when drained', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const nacked = publisher.publish(task('t-1'), TARGET);
    const other = publisher.publish(task('t-2'), TARGET);
    const first = await writes(channels, 0, 2);
    const firstClosed = closed(first);
    first.published[0].confirm(new Error('nack'));
    // Later sends go to the new channel, the one still pending on the first is answered there.
    const later = publisher.publish(task('t-3'), TARGET);
    const second = await writes(channels, 1, 2);
    assert.deepEqual(
      second.published.map((p) => p.id),
      ['t-3', 't-1'],
    );
    assert.equal(firstClosed(), false, 'the nacking channel stays open while t-2 is pending on it');
    first.published[1].confirm(null);
    await other;
    assert.equal(firstClosed(), true, 'then it is closed');
    second.published[0].confirm(null);
    second.published[1].confirm(null);
    await Promise.all([nacked, later]);
    assert.equal(first.published.length, 2, 'nothing more was written to the channel that nacked');
    await publisher.close();
  });

  it('one the broker keeps nacking rejects with "nacked" once it has nacked it for confirmTimeout', async () => {
    const { publisher, channels } = publisherOnFakeChannels(100);
    let settled = false;
    const refused = publisher.publish(task('t-4'), TARGET).then(
      () => null,
      (error: unknown) => error,
    );
    void refused.then(() => (settled = true));
    let answered = 0;
    while (!settled) {
      const channel = await writes(channels, answered, 1).catch(() => undefined);
      if (settled || !channel) break;
      channel.published[0].confirm(new Error('nack'));
      answered += 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const error = await refused;
    assert.ok(error instanceof PublishError && error.reason === 'nacked', String(error));
    assert.ok(answered > 1, `written again after the first nack (${answered} writes)`);
    await publisher.close();
  });

  it('a nack while the transport closes rejects at once', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const sent = publisher.publish(task('t-5'), TARGET);
    const channel = await writes(channels, 0, 1);
    const closing = publisher.close();
    channel.published[0].confirm(new Error('nack'));
    await assert.rejects(sent, (error: unknown) => error instanceof PublishError && error.reason === 'nacked');
    await closing;
    assert.equal(channels.length, 1);
  });
});
