import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { Options } from 'amqplib';
import type { ConnectionManager } from '../../lib/broker/amqp/connection.js';
import { PUBLISH_SEQ_HEADER } from '../../lib/broker/amqp/properties.js';
import { Publisher } from '../../lib/broker/amqp/publisher.js';
import type { OutgoingMessage } from '../../lib/broker/transport.js';
import { PublishError } from '../../lib/errors/errors.js';
import { silentLogger } from '../../lib/log/logger.js';

/** A confirm channel the test plays the broker for: it records publishes and answers by hand. */
class FakeChannel extends EventEmitter {
  readonly published: { options: Options.Publish; confirm: (error: unknown) => void }[] = [];

  publish(_exchange: string, _routingKey: string, _body: Buffer, options: Options.Publish, confirm: (error: unknown) => void): boolean {
    this.published.push({ options, confirm });
    return true;
  }

  /** What the broker sends back for an unroutable mandatory publish. */
  returnPublish(index: number): void {
    const { options } = this.published[index]!;
    this.emit('return', { fields: { replyCode: 312, replyText: 'NO_ROUTE' }, properties: { ...options }, content: Buffer.alloc(0) });
  }

  close(): Promise<void> {
    this.emit('close');
    return Promise.resolve();
  }
}

function publisherOnFakeChannels(confirmTimeoutMs: number): { publisher: Publisher; channels: FakeChannel[] } {
  const channels: FakeChannel[] = [];
  const connections = {
    acquire: async () => ({
      createConfirmChannel: async () => {
        channels.push(new FakeChannel());
        return channels.at(-1)!;
      },
    }),
  } as unknown as ConnectionManager;
  return { publisher: new Publisher(connections, Infinity, confirmTimeoutMs, 10, silentLogger(), 'amqp://fake'), channels };
}

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
    const channel = channels[0]!;
    assert.equal(channel.published.length, 2);
    assert.equal(channel.published[0]!.options.headers?.[PUBLISH_SEQ_HEADER], undefined, 'the first is matched by its messageId');
    assert.notEqual(channel.published[1]!.options.headers?.[PUBLISH_SEQ_HEADER], undefined, 'the second, sent while the first may still be returned, is stamped');
    // The broker finally answers the first (unroutable after all), then confirms both.
    channel.returnPublish(0);
    channel.published[0]!.confirm(null);
    channel.published[1]!.confirm(null);
    await second;

    // Once that channel is gone, nothing can return the first any more: the id is free again.
    await channel.close();
    const third = publisher.publish(task('t-1'), TARGET);
    await new Promise((resolve) => setImmediate(resolve));
    const next = channels[1]!;
    assert.equal(next.published[0]!.options.headers?.[PUBLISH_SEQ_HEADER], undefined);
    next.published[0]!.confirm(null);
    await third;
    await publisher.close();
  });

  it('of two unsettled publishes of one id, each return settles its own', async () => {
    const { publisher, channels } = publisherOnFakeChannels(10_000);
    const routable = publisher.publish(task('t-2'), TARGET);
    const unroutable = publisher.publish(task('t-2'), TARGET);
    await new Promise((resolve) => setImmediate(resolve));
    const channel = channels[0]!;
    channel.returnPublish(1);
    channel.published[0]!.confirm(null);
    channel.published[1]!.confirm(null);
    await routable;
    await assert.rejects(unroutable, (error: unknown) => error instanceof PublishError && error.reason === 'unroutable');
    await publisher.close();
  });
});
