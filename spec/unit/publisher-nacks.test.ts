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

/** Waits until `channel` holds `count` writes (the publisher writes again after its retry pause). */
async function writes(channel: () => FakeChannel | undefined, count: number): Promise<void> {
  for (let turns = 0; (channel()?.published.length ?? 0) < count; turns++) {
    if (turns > 5000) throw new Error(`only ${channel()?.published.length ?? 0} of ${count} writes`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('AMQP publisher: nacks', () => {
  it('a nacked publish (a quorum queue without a leader, during a fail-over) is written again and resolves once confirmed', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const nacked = publisher.publish(task('t-1'), TARGET);
    const other = publisher.publish(task('t-2'), TARGET);
    await writes(() => channels[0], 2);
    const channel = channels[0];
    channel.published[0].confirm(new Error('nack'));
    channel.published[1].confirm(null);
    await other;
    await writes(() => channel, 3);
    assert.equal(channel.published[2].id, 't-1', 'the nacked one, written again');
    channel.published[2].confirm(null);
    await nacked;
    await publisher.close();
  });

  it('one the broker keeps nacking rejects with "nacked" once it has nacked it for confirmTimeout', async () => {
    const { publisher, channels } = publisherOnFakeChannels(100);
    let settled = false;
    const refused = publisher.publish(task('t-3'), TARGET).then(
      () => null,
      (error: unknown) => error,
    );
    void refused.then(() => (settled = true));
    let answered = 0;
    while (!settled) {
      await writes(() => channels[0], answered + 1).catch(() => undefined);
      if (settled) break;
      channels[0].published[answered++].confirm(new Error('nack'));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const error = await refused;
    assert.ok(error instanceof PublishError && error.reason === 'nacked', String(error));
    assert.ok(answered > 1, `written again after the first nack (${answered} writes)`);
    await publisher.close();
  });

  it('a nack while the transport closes rejects at once', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const sent = publisher.publish(task('t-4'), TARGET);
    await writes(() => channels[0], 1);
    const closing = publisher.close();
    channels[0].published[0].confirm(new Error('nack'));
    await assert.rejects(sent, (error: unknown) => error instanceof PublishError && error.reason === 'nacked');
    await closing;
    assert.equal(channels[0].published.length, 1);
  });
});
