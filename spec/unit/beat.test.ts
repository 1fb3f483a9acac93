import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Beat, runId } from '../../lib/beat/beat.js';
import { compileEntry } from '../../lib/app/beat-schedule.js';
import { ConfigError } from '../../lib/index.js';
import { memoryApp } from '../support/apps.js';

describe('beat schedules', () => {
  it('every: due times are multiples of the interval, the same in every process', () => {
    const entry = compileEntry('e', { task: 't', every: '30s' });
    assert.equal(entry.next(Date.UTC(2026, 0, 1, 0, 0, 10)), Date.UTC(2026, 0, 1, 0, 0, 30));
    assert.equal(entry.next(Date.UTC(2026, 0, 1, 0, 0, 30)), Date.UTC(2026, 0, 1, 0, 1, 0));
  });

  it("cron: in the entry's time zone", () => {
    const entry = compileEntry('e', { task: 't', cron: '0 9 * * *', timezone: 'Europe/Paris' });
    // 09:00 in Paris in January is 08:00 UTC.
    assert.equal(entry.next(Date.UTC(2026, 0, 1, 0, 0, 0)), Date.UTC(2026, 0, 1, 8, 0, 0));
  });

  it('rejects bad entries with the key named', () => {
    assert.throws(
      () => memoryApp({ beatSchedule: { bad: { task: 't' } } }),
      (e: unknown) => e instanceof ConfigError && /beatSchedule\.bad/.test(e.message),
    );
    assert.throws(() => memoryApp({ beatSchedule: { bad: { task: 't', cron: 'not cron' } } }), ConfigError);
    assert.throws(() => memoryApp({ beatSchedule: { bad: { task: 't', every: '1s', extra: 1 } as never } }), ConfigError);
  });

  it('run ids are stable per (entry, due time)', () => {
    assert.equal(runId('a', 1000), runId('a', 1000));
    assert.notEqual(runId('a', 1000), runId('a', 2000));
    assert.match(runId('a', 1000), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('beat leadership (memory://)', () => {
  const app = memoryApp({ beatSchedule: { tick: { task: 'spec.tick', every: '1h' } } });
  const beats = [new Beat(app, { lockTtl: '5s' }), new Beat(app, { lockTtl: '5s' })];
  after(async () => {
    for (const beat of beats) await beat.stop();
    await app.close();
  });

  it('exactly one of two beats leads; when it stops, the other takes over', async () => {
    await beats[0].tick();
    await beats[1].tick();
    assert.deepEqual(
      beats.map((b) => b.leading),
      [true, false],
    );
    await beats[0].stop();
    await beats[1].tick();
    assert.equal(beats[1].leading, true);
  });
});

describe('beat state is a store of the result backend', () => {
  it('refuses with ConfigError naming backend when the backend keeps none (rpc://) or there is none', async () => {
    const rpc = memoryApp({ backend: 'rpc://' });
    const none = memoryApp({ backend: null });
    try {
      for (const app of [rpc, none]) {
        assert.throws(
          () => new Beat(app),
          (e: unknown) => e instanceof ConfigError && e.option === 'backend' && /--redis/.test(e.message),
        );
      }
    } finally {
      await Promise.all([rpc.close(), none.close()]);
    }
  });

  it('shares the app backend: stopping a beat leaves the backend open', async () => {
    const app = memoryApp({ beatSchedule: { tick: { task: 'spec.tick', every: '1h' } } });
    try {
      const beat = new Beat(app, { lockTtl: '5s' });
      await beat.tick();
      assert.equal(beat.leading, true);
      await beat.stop();
      assert.equal(await app.backend.leadBeat!(app.config.name, 'another', 5_000), true, 'released on stop, backend still open');
    } finally {
      await app.close();
    }
  });
});
