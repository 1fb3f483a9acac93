import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { PublishError } from '../../lib/errors/errors.js';
import { publisherOnFakeChannels } from '../support/fake-confirm-channel.js';

const message = (id: string): OutgoingMessage => ({
  body: Buffer.from('[]'),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: {},
  messageId: id,
});
const settled = (promise: Promise<void>): Promise<string> =>
  promise.then(
    () => 'sent',
    (error: unknown) => (error instanceof PublishError ? error.reason : String(error)),
  );
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('AMQP publisher: one bad publish makes no other be sent twice', () => {
  it('settles what was written before the refused publish instead of sending it twice; re-sends only what came after', async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    const before = ['b1', 'b2'].map((id) => settled(publisher.publish(message(id), { exchange: '', routingKey: 'tasks' })));
    const refused = settled(publisher.publish(message('reply'), { exchange: 'no-such-exchange', routingKey: 'k' }));
    const afterward = ['a1', 'a2'].map((id) => settled(publisher.publish(message(id), { exchange: '', routingKey: 'tasks' })));
    await turn();
    const first = channels[0];
    assert.deepEqual(
      first.published.map((p) => p.id),
      ['b1', 'b2', 'reply', 'a1', 'a2'],
    );
    first.closeWithError("NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'");
    assert.deepEqual(await Promise.all(before), ['sent', 'sent'], 'the broker routed them before it refused the next one');
    assert.equal(await refused, 'unroutable');
    await turn();
    await turn();
    const second = channels[1];
    assert.deepEqual(
      second.published.map((p) => p.id),
      ['a1', 'a2'],
      'only what the broker dropped is written again',
    );
    for (const p of second.published) p.confirm(null);
    assert.deepEqual(await Promise.all(afterward), ['sent', 'sent']);
    await publisher.close();
  });

  it("matches the refused exchange whole, also when its name holds a quote ('it' is not 'it's')", async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    const before = settled(publisher.publish(message('b1'), { exchange: 'it', routingKey: 'k' }));
    const refused = settled(publisher.publish(message('quoted'), { exchange: "it's", routingKey: 'k' }));
    const afterward = settled(publisher.publish(message('a1'), { exchange: 'it', routingKey: 'k' }));
    await turn();
    channels[0].closeWithError("NOT_FOUND - no exchange 'it's' in vhost '/'");
    assert.equal(await before, 'sent');
    assert.equal(await refused, 'unroutable');
    await turn();
    await turn();
    assert.deepEqual(
      channels[1].published.map((p) => p.id),
      ['a1'],
    );
    channels[1].published[0].confirm(null);
    assert.equal(await afterward, 'sent');
    await publisher.close();
  });

  it('a refusal that names no exchange in flight counts as a lost channel: re-sent a bounded number of times, then rejected', async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    let outcome: string | null = null;
    void settled(publisher.publish(message('x'), { exchange: 'ex', routingKey: 'k' })).then((o) => (outcome = o));
    for (let round = 0; round < 10 && outcome === null; round++) {
      await turn();
      await turn();
      channels.at(-1)!.closeWithError("NOT_FOUND - no exchange 'elsewhere' in vhost '/'");
      await turn();
    }
    assert.equal(outcome, 'closed', 'it gave up instead of writing it again forever');
    assert.ok(channels.length <= 4, `${channels.length} channels`);
    await publisher.close();
  });

  it('re-sends everything in flight when the channel closed for another reason', async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    const sends = ['x1', 'x2'].map((id) => settled(publisher.publish(message(id), { exchange: '', routingKey: 'tasks' })));
    await turn();
    channels[0].emit('close');
    await turn();
    await turn();
    assert.deepEqual(
      channels[1].published.map((p) => p.id),
      ['x1', 'x2'],
    );
    for (const p of channels[1].published) p.confirm(null);
    assert.deepEqual(await Promise.all(sends), ['sent', 'sent']);
    await publisher.close();
  });

  it('refuses a routing key over 255 bytes alone, without giving up the channel the others are on', async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    const ok = settled(publisher.publish(message('ok'), { exchange: '', routingKey: 'tasks' }));
    const long = settled(publisher.publish(message('long'), { exchange: '', routingKey: 'r'.repeat(256) }));
    await turn();
    assert.equal(await long, 'unroutable');
    assert.equal(channels.length, 1, 'no new channel');
    channels[0].published[0].confirm(null);
    assert.equal(await ok, 'sent');
    assert.deepEqual(
      channels[0].published.map((p) => p.id),
      ['ok'],
      'written once',
    );
    await publisher.close();
  });

  it('a publish that cannot be encoded (a task id over 255 bytes) fails alone: the channel goes on, nothing is written twice', async () => {
    const { publisher, channels } = publisherOnFakeChannels();
    const before = ['c1', 'c2'].map((id) => settled(publisher.publish(message(id), { exchange: '', routingKey: 'tasks' })));
    await turn();
    const broken = settled(publisher.publish(message('i'.repeat(300)), { exchange: '', routingKey: 'tasks' }));
    const later = settled(publisher.publish(message('c3'), { exchange: '', routingKey: 'tasks' }));
    assert.match(await broken, /wrong type/);
    await turn();
    // amqplib encodes before it writes or takes a confirm slot: the channel's window is intact.
    assert.equal(channels.length, 1, 'no new channel');
    const [channel] = channels;
    assert.deepEqual(
      channel.published.map((p) => p.id),
      ['c1', 'c2', 'c3'],
      'each written once, in order',
    );
    for (const p of channel.published) p.confirm(null);
    assert.deepEqual(await Promise.all([...before, later]), ['sent', 'sent', 'sent']);
    await publisher.close();
  });
});
