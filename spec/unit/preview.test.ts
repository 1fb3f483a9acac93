import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { preview } from '../../lib/util/preview.js';

/** What preview() gives by definition: the whole value's JSON, cut. */
function reference(value: unknown, maxLength: number): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text;
}

describe('preview', () => {
  const long = 'x'.repeat(100_000);
  const cases: Array<[string, unknown]> = [
    ['a long string argument', [long]],
    ['long strings nested in arrays and objects', [{ a: [1, long], b: long }, long]],
    ['a string that needs escapes', ['"\\\n'.repeat(5_000)]],
    ['a surrogate pair at the cut', [`${'y'.repeat(1022)}😀${'z'.repeat(2000)}`]],
    ['a surrogate pair right after the cut', [`${'y'.repeat(1023)}😀${'z'.repeat(2000)}`]],
    ['short values', [1, 'two', { three: [3] }, null]],
    ['a Date and an object with toJSON', [new Date(0), { toJSON: () => long }]],
    [
      'a class instance',
      [
        new (class Box {
          constructor(readonly inside = long) {}
        })(),
      ],
    ],
    ['undefined members', [undefined, { gone: undefined, kept: long }]],
  ];
  for (const [what, value] of cases) {
    it(`is the cut JSON of the whole value: ${what}`, () => {
      assert.equal(preview(value, 1024), reference(value, 1024));
      assert.equal(preview(value, 20), reference(value, 20));
    });
  }

  it('leaves the value it was given as it was', () => {
    const value = { text: long, list: [long] };
    preview(value, 1024);
    assert.equal(value.text.length, long.length);
    assert.equal(value.list[0].length, long.length);
  });

  it('serializes no string longer than the preview', () => {
    // What JSON.stringify is handed: a megabyte argument must not be serialized a second time.
    const longest: number[] = [];
    const longestString = (value: unknown): number =>
      typeof value === 'string'
        ? value.length
        : value !== null && typeof value === 'object'
          ? Math.max(0, ...Object.values(value).map(longestString))
          : 0;
    const value = [long, { nested: [long] }];
    const expected = reference(value, 1024);
    const stringify = JSON.stringify;
    let text: string;
    JSON.stringify = ((value: unknown, ...rest: []) => {
      longest.push(longestString(value));
      return stringify(value, ...rest);
    }) as typeof JSON.stringify;
    try {
      text = preview(value, 1024);
    } finally {
      JSON.stringify = stringify;
    }
    assert.equal(text, expected);
    assert.deepEqual(longest, [1024]);
  });

  it('falls back to String() for values without JSON and for cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(preview(cyclic, 1024), '[object Object]');
    assert.equal(preview(undefined, 1024), 'undefined');
  });
});
