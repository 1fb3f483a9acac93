import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { GetMessage } from 'amqplib';
import type { ConnectionManager } from '../../lib/broker/amqp/connection.js';
import type { Lane } from '../../lib/broker/amqp/delivery.js';
import { Takes, type LaneHost } from '../../lib/broker/amqp/takes.js';
import { ClosedError } from '../../lib/errors/errors.js';

/** A channel whose basic.gets stay unanswered until the spec answers them (or closes it). */
class HeldGetChannel extends EventEmitter {
  readonly gets: { queue: string; answer: (message: GetMessage | false) => void }[] = [];

  get(queue: string): Promise<GetMessage | false> {
    return new Promise((resolve) => this.gets.push({ queue, answer: resolve }));
  }
}

function takesOn(channel: HeldGetChannel): Takes {
  const connections = {
    url: 'amqp://fake',
    acquire: async () => ({ createChannel: async () => channel }),
  } as unknown as ConnectionManager;
  const lanes: LaneHost = {
    closing: false,
    addLane: (opened) =>
      ({ channel: opened, acks: { delivered: () => undefined }, open: true, unsettled: 0, tags: new Map() }) as unknown as Lane,
    laneClosed: (lane) => {
      lane.open = false;
    },
    closeLane: async () => undefined,
  };
  return new Takes(connections, lanes, () => false);
}

/** Waits until the channel holds `count` unanswered gets. */
async function held(channel: HeldGetChannel, count: number): Promise<void> {
  for (let turns = 0; channel.gets.length < count; turns++) {
    if (turns > 1000) throw new Error(`only ${channel.gets.length} of ${count} gets reached the channel`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('AMQP takes: concurrent basic.gets on one channel', () => {
  it("20 gets at once add no 'close' listener of their own, and leave none when answered", async () => {
    const channel = new HeldGetChannel();
    const takes = takesOn(channel);
    const gets = Array.from({ length: 20 }, (_, i) => takes.get(`q${i}`));
    await held(channel, 20);
    // The lane's own listener only: one per get would be 20 (Node warns past 10).
    assert.equal(channel.listenerCount('close'), 1);
    for (const get of channel.gets) get.answer(false);
    assert.deepEqual(await Promise.all(gets), Array(20).fill(null));
    assert.equal(channel.listenerCount('close'), 1);
  });

  it('the channel closing rejects every unanswered get with ClosedError naming its queue', async () => {
    const channel = new HeldGetChannel();
    const takes = takesOn(channel);
    const gets = Array.from({ length: 20 }, (_, i) => takes.get(`q${i}`));
    await held(channel, 20);
    channel.emit('close');
    const outcomes = await Promise.allSettled(gets);
    outcomes.forEach((outcome, i) => {
      assert.equal(outcome.status, 'rejected');
      const reason: unknown = outcome.reason;
      assert.ok(reason instanceof ClosedError, String(reason));
      assert.match(reason.message, new RegExp(`get from q${i} was answered`));
    });
  });
});
