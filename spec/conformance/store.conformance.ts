import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { BackendError, ClosedError } from '../../lib/errors/errors.js';
import type { ResultBackend } from '../../lib/backends/result-backend.js';

type StoreBackend = Required<
  Pick<
    ResultBackend,
    'addRevocations' | 'listRevocations' | 'leadBeat' | 'releaseBeat' | 'lastBeatRun' | 'recordBeatRun' | 'countRedeliveredStarts'
  >
> &
  ResultBackend;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The stores beside the results (lib/backends/result-backend.ts: revocations, beat state,
 * redelivery counts), run against one adapter that has them. `make` returns a new, unconnected
 * backend each call, on the same shared store (two calls are two clients of one Redis).
 * `unreachable`, when given, makes a backend whose store cannot be reached: every capability
 * must then fail with BackendError, never resolve as if nothing were wrong.
 */
export function describeStoreConformance(
  name: string,
  make: () => ResultBackend,
  options: { unreachable?: () => ResultBackend } = {},
): void {
  describe(`stores beside the results: ${name}`, () => {
    const opened: ResultBackend[] = [];
    const open = (): StoreBackend => {
      const backend = make();
      opened.push(backend);
      for (const member of [
        'addRevocations',
        'listRevocations',
        'leadBeat',
        'releaseBeat',
        'lastBeatRun',
        'recordBeatRun',
        'countRedeliveredStarts',
      ] as const) {
        assert.equal(typeof backend[member], 'function', `${name} implements ${member}`);
      }
      return backend as StoreBackend;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('revocations: recorded by one client, listed by another, the later expiry winning', async () => {
      const [a, b] = [open(), open()];
      const [id, other] = [randomUUID(), randomUUID()];
      const later = Date.now() + 3_600_000;
      await a.addRevocations([id, other], later);
      await a.addRevocations([id], Date.now() + 60_000);
      const listed = await b.listRevocations();
      assert.equal(listed.get(id), later);
      assert.equal(listed.get(other), later);
      await b.addRevocations([], later);
    });

    it('revocations: an expired one is no longer listed', async () => {
      const backend = open();
      const id = randomUUID();
      await backend.addRevocations([id], Date.now() + 150);
      assert.ok((await backend.listRevocations()).has(id));
      await sleep(250);
      assert.ok(!(await backend.listRevocations()).has(id));
    });

    it('beat: one holder leads at a time; only the holder renews, records and releases', async () => {
      const [a, b] = [open(), open()];
      const scope = `spec-${randomUUID()}`;
      assert.equal(await a.leadBeat(scope, 'one', 10_000), true);
      assert.equal(await b.leadBeat(scope, 'two', 10_000), false);
      assert.equal(await a.leadBeat(scope, 'one', 10_000), true, 'the holder renews');
      assert.equal(await b.lastBeatRun(scope, 'entry'), null);
      assert.equal(await b.recordBeatRun(scope, 'two', 'entry', 1_000), false, 'a non-holder records nothing');
      assert.equal(await b.lastBeatRun(scope, 'entry'), null);
      assert.equal(await a.recordBeatRun(scope, 'one', 'entry', 2_000), true);
      assert.equal(await b.lastBeatRun(scope, 'entry'), 2_000);
      await b.releaseBeat(scope, 'two');
      assert.equal(await b.leadBeat(scope, 'two', 10_000), false, 'a non-holder cannot release');
      await a.releaseBeat(scope, 'one');
      assert.equal(await b.leadBeat(scope, 'two', 10_000), true);
      assert.equal(await a.recordBeatRun(scope, 'one', 'entry', 3_000), false);
      assert.equal(await a.lastBeatRun(scope, 'entry'), 2_000);
      await b.releaseBeat(scope, 'two');
    });

    it('beat: the lock lapses after its ttl without renewal, and scopes are apart', async () => {
      const [a, b] = [open(), open()];
      const scope = `spec-${randomUUID()}`;
      assert.equal(await a.leadBeat(scope, 'one', 150), true);
      assert.equal(await b.leadBeat(`${scope}-other`, 'two', 10_000), true, 'another scope has its own lock');
      await sleep(300);
      assert.equal(await a.recordBeatRun(scope, 'one', 'entry', 1), false, 'a lapsed holder records nothing');
      assert.equal(await b.leadBeat(scope, 'two', 10_000), true);
      await b.releaseBeat(scope, 'two');
      await b.releaseBeat(`${scope}-other`, 'two');
    });

    it('redelivery counts: add and read atomically, across clients', async () => {
      const [a, b] = [open(), open()];
      const id = randomUUID();
      assert.equal(await a.countRedeliveredStarts(id, 0), 0);
      const counts = await Promise.all([a.countRedeliveredStarts(id, 1), b.countRedeliveredStarts(id, 1), a.countRedeliveredStarts(id, 1)]);
      assert.deepEqual(
        [...counts].sort((a, b) => a - b),
        [1, 2, 3],
      );
      assert.equal(await b.countRedeliveredStarts(id, 0), 3);
    });

    it('every store rejects with ClosedError once the backend is closed', async () => {
      const backend = open();
      await backend.close();
      const closed = (err: unknown): boolean => err instanceof ClosedError;
      await assert.rejects(backend.addRevocations([randomUUID()], Date.now() + 1_000), closed);
      await assert.rejects(backend.listRevocations(), closed);
      await assert.rejects(backend.leadBeat('spec', 'one', 1_000), closed);
      await assert.rejects(backend.releaseBeat('spec', 'one'), closed);
      await assert.rejects(backend.lastBeatRun('spec', 'entry'), closed);
      await assert.rejects(backend.recordBeatRun('spec', 'one', 'entry', 1), closed);
      await assert.rejects(backend.countRedeliveredStarts(randomUUID(), 1), closed);
    });

    const { unreachable } = options;
    if (unreachable) {
      it('reports a store it cannot reach: every store rejects with BackendError naming the backend', { timeout: 120_000 }, async () => {
        const backend = unreachable() as StoreBackend;
        opened.push(backend);
        const reported = (err: unknown): boolean =>
          err instanceof BackendError && err.message.includes(backend.url.replace(/^\w+:\/\//, ''));
        await Promise.all([
          assert.rejects(backend.addRevocations([randomUUID()], Date.now() + 1_000), reported),
          assert.rejects(backend.listRevocations(), reported),
          assert.rejects(backend.leadBeat('spec', 'one', 1_000), reported),
          assert.rejects(backend.releaseBeat('spec', 'one'), reported),
          assert.rejects(backend.lastBeatRun('spec', 'entry'), reported),
          assert.rejects(backend.recordBeatRun('spec', 'one', 'entry', 1), reported),
          assert.rejects(backend.countRedeliveredStarts(randomUUID(), 1), reported),
        ]);
      });
    }
  });
}
