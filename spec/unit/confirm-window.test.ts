import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfirmWindow } from '../../lib/broker/amqp/confirm-window.js';

/** The items `confirm` hands over for one ack or nack. */
function confirmed<T>(window: ConfirmWindow<T>, tag: number, multiple: boolean): T[] {
  const items: T[] = [];
  window.confirm(tag, multiple, (item) => items.push(item));
  return items;
}

describe('ConfirmWindow: publishes of one confirm channel by delivery tag', () => {
  it('numbers writes 1, 2, 3, ... and hands over the one a single ack names', () => {
    const window = new ConfirmWindow<string>();
    assert.deepEqual(
      ['a', 'b', 'c'].map((item) => window.written(item)),
      [1, 2, 3],
    );
    assert.deepEqual(confirmed(window, 2, false), ['b']);
    assert.deepEqual(confirmed(window, 2, false), [], 'a tag is handed over once');
    assert.deepEqual(confirmed(window, 1, false), ['a']);
    assert.deepEqual(confirmed(window, 3, false), ['c']);
    assert.equal(window.written('d'), 4, 'tags go on after the window emptied');
  });

  it('a multiple ack hands over every unconfirmed one up to its tag, in order, and none after', () => {
    const window = new ConfirmWindow<number>();
    for (let i = 1; i <= 6; i++) window.written(i);
    assert.deepEqual(confirmed(window, 3, false), [3]);
    assert.deepEqual(confirmed(window, 5, true), [1, 2, 4, 5]);
    assert.deepEqual(confirmed(window, 5, true), []);
    assert.deepEqual(confirmed(window, 6, true), [6]);
  });

  it('ignores tags it never gave out', () => {
    const window = new ConfirmWindow<string>();
    window.written('a');
    assert.deepEqual(confirmed(window, 7, false), []);
    assert.deepEqual(confirmed(window, 0, true), []);
    assert.deepEqual(confirmed(window, 1, false), ['a']);
  });

  it('keeps tags right across its compaction (thousands confirmed one by one)', () => {
    const window = new ConfirmWindow<number>();
    const n = 5000;
    for (let i = 1; i <= n; i++) assert.equal(window.written(i), i);
    // One left behind (2999) while the window's front moves past the compaction threshold.
    for (let tag = 1; tag <= 3000; tag++) if (tag !== 2999) assert.deepEqual(confirmed(window, tag, false), [tag]);
    assert.deepEqual(confirmed(window, 2999, false), [2999]);
    assert.equal(window.written(n + 1), n + 1);
    assert.deepEqual(
      confirmed(window, n + 1, true),
      Array.from({ length: n + 1 - 3000 }, (_, i) => 3001 + i),
    );
  });

  it('an item written while it hands over (a pump after a confirm) gets the next tag', () => {
    const window = new ConfirmWindow<string>();
    window.written('a');
    window.written('b');
    const tags: number[] = [];
    window.confirm(2, true, (item) => {
      if (item === 'a') tags.push(window.written('c'));
    });
    assert.deepEqual(tags, [3]);
    assert.deepEqual(confirmed(window, 3, false), ['c']);
  });
});
