import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { setTimeout as wait } from 'node:timers/promises';
import { SoftTimeLimitExceeded, TimeLimitExceeded } from '../../lib/index.js';
import { MAX_TIMER_DELAY_MS, setLongTimeout, sleep } from '../../lib/util/long-timeout.js';
import { timeLimitsOf, withTimeLimits } from '../../lib/worker/time-limits.js';
import type { TaskHeaders } from '../../lib/protocol/task-message.js';

const DAY_MS = 86_400_000;

describe('setLongTimeout (mocked timers)', () => {
  afterEach(() => mock.timers.reset());

  it('waits 30 days in pieces Node can time, and fires once at the end', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY_MS);
    mock.timers.tick(MAX_TIMER_DELAY_MS);
    assert.equal(fired, 0, 'not after the first piece');
    mock.timers.tick(30 * DAY_MS - MAX_TIMER_DELAY_MS - 1);
    assert.equal(fired, 0, 'not 1 ms early');
    mock.timers.tick(1);
    assert.equal(fired, 1);
    mock.timers.tick(60 * DAY_MS);
    assert.equal(fired, 1, 'only once');
  });

  it('is cleared between pieces, and short delays behave as setTimeout', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let fired = 0;
    const long = setLongTimeout(() => fired++, 100 * DAY_MS);
    mock.timers.tick(40 * DAY_MS);
    long.clear();
    mock.timers.tick(100 * DAY_MS);
    assert.equal(fired, 0);
    setLongTimeout(() => fired++, 10);
    mock.timers.tick(9);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
    setLongTimeout(() => fired++, -5);
    setLongTimeout(() => fired++, Number.NaN);
    mock.timers.tick(0);
    assert.equal(fired, 3, 'negative and NaN delays mean now');
    setLongTimeout(() => fired++, Number.POSITIVE_INFINITY);
    mock.timers.tick(1000 * DAY_MS);
    assert.equal(fired, 3, 'Infinity means never');
  });

  it('sleep resolves after a delay past the 32-bit limit', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let done = false;
    const sleeping = sleep(2 * MAX_TIMER_DELAY_MS + 7).then(() => (done = true));
    mock.timers.tick(MAX_TIMER_DELAY_MS);
    mock.timers.tick(MAX_TIMER_DELAY_MS);
    await Promise.resolve();
    assert.equal(done, false);
    mock.timers.tick(7);
    await sleeping;
    assert.equal(done, true);
  });
});

describe('time limits longer than a Node timer (real timers)', () => {
  const headers = (timelimit: [number | null, number | null]) => ({ timelimit }) as unknown as TaskHeaders;
  // Runs that settle only when the test ends: the limits' timers are cleared then.
  const pending: (() => void)[] = [];
  afterEach(() => pending.splice(0).forEach((finish) => finish()));
  const never = () => new Promise<never>((_resolve, reject) => pending.push(() => reject(new Error('test over'))));

  it('a 3,000,000 s hard limit from the message does not fire at once', async () => {
    const limits = timeLimitsOf(headers([3_000_000, null]), {});
    assert.equal(limits.hardMs, 3_000_000_000);
    const owner = { abort: new AbortController() };
    let settled: unknown = 'pending';
    const run = withTimeLimits(never(), limits, owner).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    void run.then((value) => (settled = value));
    await wait(50);
    assert.equal(settled, 'pending', 'the limit fired early');
    assert.equal(owner.abort.signal.aborted, false);
  });

  it("the task options timeLimit '30d' and softTimeLimit '25d' wait too", async () => {
    const limits = timeLimitsOf(headers([null, null]), { timeLimit: '30d', softTimeLimit: '25d' });
    assert.deepEqual(limits, { hardMs: 30 * DAY_MS, softMs: 25 * DAY_MS });
    const owner = { abort: new AbortController() };
    let settled = false;
    void withTimeLimits(never(), limits, owner).catch(() => (settled = true));
    await wait(50);
    assert.equal(settled, false);
    assert.equal(owner.abort.signal.aborted, false, 'the soft limit fired early');
  });

  it('short limits still fire', async () => {
    const owner = { abort: new AbortController() };
    await assert.rejects(withTimeLimits(never(), { hardMs: 30, softMs: 10 }, owner), TimeLimitExceeded);
    assert.ok(owner.abort.signal.reason instanceof SoftTimeLimitExceeded || owner.abort.signal.reason instanceof TimeLimitExceeded);
  });
});
