import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_KEYS_PER_READ, ReadBatcher } from '../../lib/backends/redis/read-batcher.js';

/** A fake store: records each command's keys and answers `value:<key>` (null for keys starting with 'missing'). */
function fakeStore(failMany = false) {
  const commands: Array<{ name: 'GET' | 'MGET'; keys: string[] }> = [];
  const value = (key: string): string | null => (key.startsWith('missing') ? null : `value:${key}`);
  const batcher = new ReadBatcher(
    (key) => {
      commands.push({ name: 'GET', keys: [key] });
      return Promise.resolve(value(key));
    },
    (keys) => {
      commands.push({ name: 'MGET', keys });
      return failMany ? Promise.reject(new Error('MGET failed')) : Promise.resolve(keys.map(value));
    },
  );
  return { batcher, commands };
}

describe('ReadBatcher (Redis backend reads)', () => {
  it('reads a burst of keys as MGETs of at most MAX_KEYS_PER_READ keys, in call order, each read its own value', async () => {
    const { batcher, commands } = fakeStore();
    const keys = Array.from({ length: 2 * MAX_KEYS_PER_READ + 2 }, (_, i) => (i % 7 === 0 ? `missing-${i}` : `key-${i}`));
    const values = await Promise.all(keys.map((key) => batcher.get(key)));
    assert.deepEqual(
      values,
      keys.map((key) => (key.startsWith('missing') ? null : `value:${key}`)),
    );
    assert.deepEqual(
      commands.map((c) => [c.name, c.keys.length]),
      [
        ['MGET', MAX_KEYS_PER_READ],
        ['MGET', MAX_KEYS_PER_READ],
        ['MGET', 2],
      ],
    );
    assert.deepEqual(
      commands.flatMap((c) => c.keys),
      keys,
    );
  });

  it('gathers the reads made by the continuations of one burst of promises', async () => {
    const { batcher, commands } = fakeStore();
    const subscribed = Promise.resolve();
    const values = await Promise.all(
      ['a', 'b', 'c'].map(async (key) => {
        await subscribed;
        return batcher.get(key);
      }),
    );
    assert.deepEqual(values, ['value:a', 'value:b', 'value:c']);
    assert.deepEqual(commands, [{ name: 'MGET', keys: ['a', 'b', 'c'] }]);
  });

  it('sends a lone read as a GET, and reads of later turns apart', async () => {
    const { batcher, commands } = fakeStore();
    assert.equal(await batcher.get('one'), 'value:one');
    assert.equal(await batcher.get('missing'), null);
    assert.deepEqual(commands, [
      { name: 'GET', keys: ['one'] },
      { name: 'GET', keys: ['missing'] },
    ]);
  });

  it('fails every read of a failed MGET with its error', async () => {
    const { batcher } = fakeStore(true);
    const reads = ['a', 'b'].map((key) => batcher.get(key));
    for (const read of reads) await assert.rejects(read, /MGET failed/);
  });
});
