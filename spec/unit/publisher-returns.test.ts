import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PUBLISH_SEQ_HEADER } from '../../lib/broker/amqp/properties.js';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { PublishError } from '../../lib/errors/errors.js';
import { publisherOnFakeChannels } from '../support/fake-confirm-channel.js';

const task = (id: string): OutgoingMessage => ({
  body: Buffer.from('[]'),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { id },
  messageId: id,
  correlationId: id,
});
const TARGET = { exchange: '', routingKey: 'q' };

describe('AMQP publisher: matching basic.return to its publish', () => {
  it('a task id sent again after its first send timed out: a late return of the first does not fail the second', async () => {
    const { publisher, channels } = publisherOnFakeChannels(50);
    const first = publisher.publish(task('t-1'), TARGET);
    await assert.rejects(first, (error: unknown) => error instanceof PublishError && error.reason === 'confirm-timeout');
    const second = publisher.publish(task('t-1'), TARGET);
    const channel = channels[0];
    assert.equal(channel.published.length, 2);
    assert.equal(channel.published[0].options.headers?.[PUBLISH_SEQ_HEADER], undefined, 'the first is matched by its messageId');
    assert.notEqual(
      channel.published[1].options.headers?.[PUBLISH_SEQ_HEADER],
      undefined,
      'the second, sent while the first may still be returned, is stamped',
    );
    // The broker finally answers the first (unroutable after all), then confirms both.
    channel.returnPublish(0);
    channel.published[0].confirm(null);
    channel.published[1].confirm(null);
    await second;

    // Once that channel is gone, nothing can return the first any more: the id is free again.
    await channel.close();
    const third = publisher.publish(task('t-1'), TARGET);
    await new Promise((resolve) => setImmediate(resolve));
    const next = channels[1];
    assert.equal(next.published[0].options.headers?.[PUBLISH_SEQ_HEADER], undefined);
    next.published[0].confirm(null);
    await third;
    await publisher.close();
  });

  it('of two unsettled publishes of one id, each return settles its own', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const routable = publisher.publish(task('t-2'), TARGET);
    const unroutable = publisher.publish(task('t-2'), TARGET);
    await new Promise((resolve) => setImmediate(resolve));
    const channel = channels[0];
    channel.returnPublish(1);
    channel.published[0].confirm(null);
    channel.published[1].confirm(null);
    await routable;
    await assert.rejects(unroutable, (error: unknown) => error instanceof PublishError && error.reason === 'unroutable');
    await publisher.close();
  });
});
