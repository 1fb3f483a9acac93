import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis as ImportedRedis } from 'ioredis';
import { Redis } from '../../lib/util/ioredis.js';

/** lib/util/ioredis.ts loads ioredis with require(): the same class as the package's named export. */
describe('ioredis loader', () => {
  it('gives the Redis class ioredis exports', () => {
    assert.equal(Redis, ImportedRedis);
    assert.equal(typeof Redis.prototype.get, 'function');
  });
});
