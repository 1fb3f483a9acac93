import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Channel, Message } from 'amqplib';
import { AckBatcher } from '../../lib/broker/amqp/ack-batcher.js';

/** A channel that records the frames it is asked to send. */
function recordingChannel() {
  const frames: string[] = [];
  const channel = {
    ack: (message: Message, multiple: boolean) => frames.push(`ack ${message.fields.deliveryTag}${multiple ? ' multiple' : ''}`),
    reject: (message: Message, requeue: boolean) => frames.push(`reject ${message.fields.deliveryTag}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  return { channel, frames };
}

const message = (deliveryTag: number) => ({ fields: { deliveryTag } }) as unknown as Message;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('AckBatcher', () => {
  it('acks a run of deliveries settled in order with one multiple ack, one turn later', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    for (let tag = 1; tag <= 5; tag++) acks.delivered(message(tag));
    for (let tag = 1; tag <= 5; tag++) acks.ack(message(tag));
    assert.deepEqual(frames, [], 'nothing is sent before the flush');
    await turn();
    assert.deepEqual(frames, ['ack 5 multiple']);
  });

  it('never acks past a delivery that is still running: later acks go out one by one at the same flush', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    for (let tag = 1; tag <= 6; tag++) acks.delivered(message(tag));
    acks.ack(message(1));
    acks.ack(message(2));
    acks.ack(message(4)); // 3 still runs
    acks.ack(message(6)); // 5 still runs
    await turn();
    assert.deepEqual(frames, ['ack 2 multiple', 'ack 4', 'ack 6']);
    frames.length = 0;
    acks.ack(message(3));
    acks.ack(message(5));
    await turn();
    // 3..6 are all settled now; 4 and 6 were acked already, which a multiple ack leaves alone.
    assert.deepEqual(frames, ['ack 5 multiple']);
  });

  it('sends a reject at once, and a later multiple ack may span it', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    for (let tag = 1; tag <= 3; tag++) acks.delivered(message(tag));
    acks.ack(message(1));
    acks.reject(message(2), true);
    assert.deepEqual(frames, ['reject 2 requeue']);
    acks.ack(message(3));
    await turn();
    assert.deepEqual(frames, ['reject 2 requeue', 'ack 3 multiple']);
  });

  it('flushes on demand (before a channel closes), and ignores settling a delivery twice', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    acks.delivered(message(1));
    acks.delivered(message(2));
    acks.ack(message(1));
    acks.ack(message(1));
    acks.flush();
    assert.deepEqual(frames, ['ack 1 multiple']);
    await turn();
    assert.deepEqual(frames, ['ack 1 multiple'], 'the scheduled flush finds nothing left');
    acks.ack(message(1));
    await turn();
    assert.deepEqual(frames, ['ack 1 multiple']);
  });
});
