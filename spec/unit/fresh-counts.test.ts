import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FreshCounts } from '../../lib/backends/rpc/fresh-counts.js';

/** A query whose answer the test gives by hand; records when it was started. */
function manualQueries() {
  const started: Array<{ resolve: (n: number) => void; reject: (e: Error) => void }> = [];
  const query = () => new Promise<number>((resolve, reject) => started.push({ resolve, reject }));
  return { started, query };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FreshCounts', () => {
  it('callers that ask together share one query', async () => {
    const counts = new FreshCounts();
    const { started, query } = manualQueries();
    const answers = [counts.count('q', query), counts.count('q', query), counts.count('q', query)];
    await tick();
    assert.equal(started.length, 1);
    started[0].resolve(7);
    assert.deepEqual(await Promise.all(answers), [7, 7, 7]);
  });

  it('a caller that asks while a query runs gets the next one, started after it asked', async () => {
    const counts = new FreshCounts();
    const { started, query } = manualQueries();
    const first = counts.count('q', query);
    await tick();
    assert.equal(started.length, 1);
    // Asked while the first query runs: its answer may predate these callers, so they wait for another.
    const second = [counts.count('q', query), counts.count('q', query)];
    await tick();
    assert.equal(started.length, 1, 'at most one query runs per queue');
    started[0].resolve(1);
    assert.equal(await first, 1);
    await tick();
    assert.equal(started.length, 2);
    started[1].resolve(3);
    assert.deepEqual(await Promise.all(second), [3, 3]);
  });

  it('queues are counted independently, and a failed query fails only its callers', async () => {
    const counts = new FreshCounts();
    const { started, query } = manualQueries();
    const a = counts.count('a', query);
    const b = counts.count('b', query);
    await tick();
    assert.equal(started.length, 2);
    started[0].reject(new Error('channel closed'));
    started[1].resolve(5);
    await assert.rejects(a, /channel closed/);
    assert.equal(await b, 5);
    const again = counts.count('a', query);
    await tick();
    started[2].resolve(2);
    assert.equal(await again, 2);
  });
});
