import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SubscriptionBatcher } from '../../lib/backends/redis/subscription-batcher.js';

/** A batcher whose commands are recorded and answered by `answer` (default: succeed). */
function recordingBatcher(answer: (command: string, channels: string[]) => Promise<unknown> = () => Promise.resolve()) {
  const commands: string[] = [];
  const batcher = new SubscriptionBatcher(
    (channels) => {
      commands.push(`SUBSCRIBE ${channels.join(' ')}`);
      return answer('SUBSCRIBE', channels);
    },
    (channels) => {
      commands.push(`UNSUBSCRIBE ${channels.join(' ')}`);
      return answer('UNSUBSCRIBE', channels);
    },
  );
  return { batcher, commands };
}

/** Awaits `promises`, keeping the process alive meanwhile (the batcher's unsubscribe timer does not). */
async function settledAlive(promises: Promise<unknown>[]): Promise<void> {
  const alive = setInterval(() => undefined, 1000);
  try {
    await Promise.all(promises);
  } finally {
    clearInterval(alive);
  }
}

describe('SubscriptionBatcher: one command, and one promise, per batch of keys', () => {
  it('the subscribes of one turn go out as one SUBSCRIBE and share its promise', async () => {
    const { batcher, commands } = recordingBatcher();
    const subscribing = ['a', 'b', 'c'].map((key) => batcher.add('subscribe', key));
    assert.equal(new Set(subscribing).size, 1, 'one promise for the whole turn');
    await Promise.all(subscribing);
    assert.deepEqual(commands, ['SUBSCRIBE a b c']);
    const next = batcher.add('subscribe', 'd');
    assert.notEqual(next, subscribing[0], 'a later turn has a promise of its own');
    await next;
    assert.deepEqual(commands, ['SUBSCRIBE a b c', 'SUBSCRIBE d']);
  });

  it("a failed SUBSCRIBE rejects every caller of its turn with the command's error", async () => {
    const refused = new Error('NOPERM');
    const { batcher } = recordingBatcher(() => Promise.reject(refused));
    const outcomes = await Promise.allSettled(['a', 'b'].map((key) => batcher.add('subscribe', key)));
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status === 'rejected' && outcome.reason),
      [refused, refused],
    );
  });

  it('unsubscribes wait and go out together; one subscribed again meanwhile is left out (the last call wins)', async () => {
    const { batcher, commands } = recordingBatcher();
    await batcher.add('subscribe', 'a');
    const leaving = ['a', 'b', 'c'].map((key) => batcher.add('unsubscribe', key));
    assert.equal(new Set(leaving).size, 1);
    const again = batcher.add('subscribe', 'b');
    await settledAlive([...leaving, again]);
    assert.deepEqual(commands, ['SUBSCRIBE a', 'SUBSCRIBE b', 'UNSUBSCRIBE a c']);
  });

  it('a key left, subscribed and left again goes out once', async () => {
    const { batcher, commands } = recordingBatcher();
    const first = batcher.add('unsubscribe', 'a');
    void batcher.add('subscribe', 'a');
    const second = batcher.add('unsubscribe', 'a');
    await settledAlive([first, second]);
    assert.deepEqual(commands, ['SUBSCRIBE a', 'UNSUBSCRIBE a']);
  });

  it('discard drops the waiting unsubscribes and settles their callers', async () => {
    const { batcher, commands } = recordingBatcher();
    const leaving = batcher.add('unsubscribe', 'a');
    batcher.discard();
    await leaving;
    assert.deepEqual(commands, []);
  });
});
