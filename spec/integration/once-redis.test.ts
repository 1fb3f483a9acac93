import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { EffectUncertainError, onceForTask, onceKey } from '../../lib/index.js';
import { realApp } from '../support/apps.js';

/** once() on redis:// — the claim primitives (SET NX PX, compare-and-set) across separate clients. */
describe('once on redis://', () => {
  const a = realApp();
  const b = realApp();
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('claim and swapClaim: set if absent, else the value held; swap only from the expected value; delete; expiry', async () => {
    const key = `spec-once-${randomUUID()}`;
    assert.equal(await a.backend.claim!(key, 'run one 0', 60_000), null);
    assert.equal(await b.backend.claim!(key, 'run two 0', 60_000), 'run one 0');
    assert.equal(await b.backend.swapClaim!(key, 'run two 0', 'run two 1', 60_000), false);
    assert.equal(await a.backend.swapClaim!(key, 'run one 0', 'run one 1', 60_000), true);
    assert.equal(await b.backend.claim!(key, 'run two 0', 60_000), 'run one 1');
    assert.equal(await a.backend.swapClaim!(key, 'run one 1', null, 60_000), true);
    assert.equal(await b.backend.claim!(key, 'run two 0', 50), null, 'deleted: claimable');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(await a.backend.claim!(key, 'run one 2', 60_000), null, 'expired after its ttl: claimable');
    await a.backend.swapClaim!(key, 'run one 2', null, 1);
  });

  it('two apps (two Redis clients) doing the same effect at once: it happens once, both get its value', async () => {
    const id = randomUUID();
    let effects = 0;
    const effect = async (): Promise<string> => {
      effects += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return `done by ${effects}`;
    };
    const values = await Promise.all([
      onceForTask(a, id, effect),
      onceForTask(b, id, effect),
      onceForTask(a, id, effect),
      onceForTask(b, id, effect),
    ]);
    assert.equal(effects, 1);
    assert.deepEqual(values, Array(4).fill('done by 1'));
  });

  it('an abandoned claim: at-most-once on one app marks it lost, every later run on any app fails with EffectUncertainError', async () => {
    const id = randomUUID();
    await a.backend.claim!(onceKey(id), 'run dead 0', 60_000);
    await assert.rejects(
      onceForTask(b, id, () => 1, { ttl: 100, guarantee: 'at-most-once' }),
      EffectUncertainError,
    );
    await assert.rejects(
      onceForTask(a, id, () => 1, { ttl: 100 }),
      EffectUncertainError,
    );
  });
});
