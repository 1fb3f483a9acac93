import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ArrayMap, ArraySet } from '../../lib/util/array-collections.js';

describe('ArraySet', () => {
  it('keeps members by identity, in insertion order, once each', () => {
    const a = { n: 1 };
    const b = { n: 1 };
    const set = new ArraySet<object>().add(a).add(b).add(a);
    assert.equal(set.size, 2);
    assert.deepEqual(set.values(), [a, b]);
    assert.ok(set.values()[0] === a && set.values()[1] === b);
    assert.ok(set.has(a) && set.has(b) && !set.has({ n: 1 }));
  });

  it('deletes a member, reporting whether it was one', () => {
    const [a, b, c] = [{}, {}, {}];
    const set = new ArraySet<object>().add(a).add(b).add(c);
    assert.equal(set.delete(b), true);
    assert.equal(set.delete(b), false);
    assert.deepEqual([...set], [a, c]);
    assert.equal(set.size, 2);
  });

  it('iterates a snapshot: deleting while iterating visits every member once', () => {
    const items = [{}, {}, {}];
    const set = new ArraySet<object>();
    items.forEach((item) => set.add(item));
    const seen: object[] = [];
    for (const item of set) {
      seen.push(item);
      set.delete(item);
    }
    assert.deepEqual(seen, items);
    assert.equal(set.size, 0);
  });
});

describe('ArrayMap', () => {
  it('maps keys by identity, in insertion order; set on an existing key replaces its value in place', () => {
    const [a, b] = [{}, {}];
    const map = new ArrayMap<object, string>().set(a, 'a').set(b, 'b').set(a, 'A');
    assert.equal(map.size, 2);
    assert.equal(map.get(a), 'A');
    assert.equal(map.get({}), undefined);
    assert.deepEqual(map.keys(), [a, b]);
    assert.deepEqual(map.values(), ['A', 'b']);
    assert.deepEqual(
      [...map],
      [
        [a, 'A'],
        [b, 'b'],
      ],
    );
  });

  it('deletes a key with its value, reporting whether it was there', () => {
    const [a, b, c] = [{}, {}, {}];
    const map = new ArrayMap<object, number>().set(a, 1).set(b, 2).set(c, 3);
    assert.equal(map.delete(b), true);
    assert.equal(map.delete(b), false);
    assert.ok(!map.has(b));
    assert.deepEqual(map.values(), [1, 3]);
    assert.equal(map.get(c), 3);
  });
});
