import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SUSPECT_SLOTS, Suspects } from '../../lib/worker/suspects.js';

describe('Suspects', () => {
  it('gives the one suspect slot to the waiting suspect with the fewest counted starts, first arrived among equals', () => {
    const suspects = new Suspects<{ name: string }>();
    const [healthy, killer, bystander, other] = ['healthy', 'killer', 'bystander', 'other'].map((name) => ({ name }));
    suspects.add(killer, 7);
    suspects.add(bystander, 1);
    suspects.add(other, 1);
    const waiting = [healthy, killer, bystander, other];
    assert.equal(suspects.has(healthy), false);
    assert.equal(suspects.next(waiting), bystander);
    assert.equal(SUSPECT_SLOTS, 1);
    suspects.started(bystander);
    assert.equal(suspects.next([healthy, killer, other]), undefined, 'no second suspect while one runs');
    suspects.finished(bystander);
    suspects.finished(bystander);
    assert.equal(suspects.next([healthy, killer, other]), other);
    assert.equal(suspects.next([healthy]), undefined);
  });
});
