import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { WaitDeadlines } from '../../lib/backends/wait-deadlines.js';

interface Item {
  name: string;
  done: boolean;
}

/** WaitDeadlines on a hand-moved clock, with Node's timers mocked to follow it. */
function deadlinesOnClock(): { deadlines: WaitDeadlines<Item>; expired: string[]; advance: (ms: number) => void } {
  let clock = 1000;
  const expired: string[] = [];
  const deadlines = new WaitDeadlines<Item>(
    (item) => !item.done,
    (item, timeoutMs) => {
      item.done = true;
      expired.push(`${item.name}@${timeoutMs}`);
    },
    () => clock,
  );
  const advance = (ms: number): void => {
    clock += ms;
    mock.timers.tick(ms);
  };
  return { deadlines, expired, advance };
}

const item = (name: string): Item => ({ name, done: false });

describe('WaitDeadlines: one timer per timeout length', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('waits of one length share one queue and expire in the order they started, at their deadline and not before', () => {
    const { deadlines, expired, advance } = deadlinesOnClock();
    const items = Array.from({ length: 1000 }, (_, i) => item(`w${i}`));
    deadlines.add(items[0], 500);
    advance(100);
    for (const waiting of items.slice(1)) deadlines.add(waiting, 500);
    assert.equal(deadlines.lengths, 1);
    advance(399);
    assert.deepEqual(expired, []);
    advance(1);
    assert.deepEqual(expired, ['w0@500']);
    advance(99);
    assert.equal(expired.length, 1);
    advance(1);
    assert.equal(expired.length, 1000);
    assert.deepEqual(expired.slice(0, 3), ['w0@500', 'w1@500', 'w2@500']);
    assert.equal(deadlines.lengths, 0, 'nothing left: the queue and its timer are gone');
  });

  it('a released wait never expires; once every wait of a length is released the length has no queue', () => {
    const { deadlines, expired, advance } = deadlinesOnClock();
    const [a, b] = [item('a'), item('b')];
    deadlines.add(a, 200);
    deadlines.add(b, 200);
    a.done = true;
    deadlines.release(200);
    advance(200);
    assert.deepEqual(expired, ['b@200']);
    const c = item('c');
    deadlines.add(c, 300);
    c.done = true;
    deadlines.release(300);
    assert.equal(deadlines.lengths, 0);
    advance(1000);
    assert.deepEqual(expired, ['b@200']);
  });

  it('lengths are kept apart: a short wait started later expires before a long one started earlier', () => {
    const { deadlines, expired, advance } = deadlinesOnClock();
    deadlines.add(item('long'), 1000);
    advance(10);
    deadlines.add(item('short'), 50);
    assert.equal(deadlines.lengths, 2);
    advance(50);
    assert.deepEqual(expired, ['short@50']);
    advance(940);
    assert.deepEqual(expired, ['short@50', 'long@1000']);
  });

  it('many waits released early (results that came) leave the others to expire on time, in order', () => {
    const { deadlines, expired, advance } = deadlinesOnClock();
    const items = Array.from({ length: 5000 }, (_, i) => item(`w${i}`));
    for (const waiting of items) deadlines.add(waiting, 100);
    // Every wait but each hundredth ends before its deadline.
    items.forEach((waiting, i) => {
      if (i % 100 === 0) return;
      waiting.done = true;
      deadlines.release(100);
    });
    advance(100);
    assert.deepEqual(
      expired,
      Array.from({ length: 50 }, (_, i) => `w${i * 100}@100`),
    );
    assert.equal(deadlines.lengths, 0);
  });
});
