import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SequenceWindow } from '../../lib/util/sequence-window.js';

describe('SequenceWindow', () => {
  it('finds values by sequence number and iterates them in sequence order', () => {
    const window = new SequenceWindow<string>();
    window.add(5, 'e');
    window.add(6, 'f');
    window.add(9, 'i'); // a gap: 7 and 8 were never added
    assert.equal(window.size, 3);
    assert.equal(window.get(6), 'f');
    assert.equal(window.get(7), undefined);
    assert.equal(window.get(4), undefined);
    assert.equal(window.get(10), undefined);
    assert.ok(window.has(9) && !window.has(8));
    assert.deepEqual(window.values(), ['e', 'f', 'i']);
    assert.equal(window.oldest(), 'e');
  });

  it('deletes in any order, reporting whether the value was there; oldest follows', () => {
    const window = new SequenceWindow<number>();
    for (let seq = 1; seq <= 5; seq++) window.add(seq, seq * 10);
    assert.equal(window.delete(3), true);
    assert.equal(window.delete(3), false);
    assert.equal(window.delete(42), false);
    assert.equal(window.oldest(), 10);
    assert.equal(window.delete(1), true);
    assert.equal(window.oldest(), 20);
    assert.equal(window.delete(2), true);
    assert.equal(window.oldest(), 40, 'skips the slot deleted earlier');
    assert.deepEqual([...window], [40, 50]);
    assert.equal(window.size, 2);
  });

  it('refuses a sequence number that is not greater than the last one added, even once empty', () => {
    const window = new SequenceWindow<string>();
    window.add(3, 'c');
    assert.throws(() => window.add(3, 'again'), RangeError);
    assert.throws(() => window.add(2, 'b'), RangeError);
    window.delete(3);
    assert.throws(() => window.add(3, 'again'), RangeError);
    window.add(4, 'd');
    assert.deepEqual(window.values(), ['d']);
    assert.throws(() => window.add(1.5, 'x'), RangeError);
  });

  it('finds the first value a predicate accepts, in sequence order, skipping deleted ones', () => {
    const window = new SequenceWindow<{ seq: number; even: boolean }>();
    for (let seq = 1; seq <= 6; seq++) window.add(seq, { seq, even: seq % 2 === 0 });
    assert.equal(window.find((v) => v.even)?.seq, 2);
    window.delete(2);
    assert.equal(window.find((v) => v.even)?.seq, 4);
    assert.equal(
      window.find((v) => v.seq > 10),
      undefined,
    );
  });

  it('refuses undefined as a value (it could never be deleted)', () => {
    const window = new SequenceWindow<string | undefined>();
    assert.throws(() => window.add(1, undefined), TypeError);
    assert.equal(window.size, 0);
  });

  it('stays correct when the oldest value stays while thousands after it come and go', () => {
    const window = new SequenceWindow<number>();
    window.add(1, 1); // never deleted, like a publish the broker never confirms
    for (let seq = 2; seq <= 50_000; seq++) {
      window.add(seq, seq);
      if (seq > 10) assert.equal(window.delete(seq - 8), true);
    }
    assert.equal(window.oldest(), 1);
    // Left: 1, 2 (the deletes begin at 3) and the last eight, 49,993 … 50,000.
    assert.equal(window.size, 10);
    assert.deepEqual(window.values().slice(0, 3), [1, 2, 49_993]);
    assert.equal(window.get(49_990), undefined);
    assert.equal(window.get(49_995), 49_995);
    assert.equal(window.delete(1), true);
    assert.equal(window.oldest(), 2);
  });

  it('iterates a snapshot: deleting while iterating visits every value once', () => {
    const window = new SequenceWindow<number>();
    for (let seq = 1; seq <= 4; seq++) window.add(seq, seq);
    const seen: number[] = [];
    for (const value of window) {
      seen.push(value);
      window.delete(value);
    }
    assert.deepEqual(seen, [1, 2, 3, 4]);
    assert.equal(window.size, 0);
    assert.equal(window.oldest(), undefined);
  });

  it('stays correct across compactions while thousands pass through, oldest first or out of order', () => {
    const window = new SequenceWindow<number>();
    const live = new Set<number>();
    let next = 1;
    // A sliding window of ~3,000 in flight; every seventh is settled late, out of order.
    for (let round = 0; round < 20_000; round++) {
      window.add(next, next);
      live.add(next);
      next++;
      if (live.size > 3_000) {
        const oldest = live.values().next().value as number; // the Set keeps insertion order
        const victim = oldest % 7 === 0 && live.has(oldest + 1) ? oldest + 1 : oldest;
        assert.equal(window.delete(victim), true);
        live.delete(victim);
      }
    }
    assert.equal(window.size, live.size);
    const expected = [...live].sort((a, b) => a - b);
    assert.deepEqual(window.values(), expected);
    assert.equal(window.oldest(), expected[0]);
    for (const seq of expected) assert.equal(window.get(seq), seq);
    for (const seq of expected) window.delete(seq);
    assert.equal(window.size, 0);
    assert.deepEqual(window.values(), []);
  });
});
