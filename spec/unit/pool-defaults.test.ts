import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { celeryWorkerOptions } from '../../bin/worker-flags.js';
import type { WorkerArgs } from '../../bin/commands/worker.js';
import { resolveConfig } from '../../lib/app/config.js';
import { resolveWorkerOptions, type WorkerOptions } from '../../lib/worker/options.js';
import { ASYNC_DEFAULT_CONCURRENCY, ASYNC_MIN_PREFETCH } from '../../lib/worker/pool-defaults.js';
import { captureLogger } from '../support/capture-logger.js';

const silent = captureLogger().logger;

/** [concurrency, prefetch] a worker gets from these options and app settings. */
function capacity(options: WorkerOptions, app: { concurrency?: number; prefetchMultiplier?: number } = {}): [number, number] {
  const config = resolveConfig({ broker: 'memory://pool-defaults', backend: 'memory://pool-defaults', logLevel: 'silent', ...app });
  const settings = resolveWorkerOptions(options, { config, logger: silent });
  return [settings.concurrency, settings.prefetch.prefetchFor(settings.autoscale?.max ?? settings.concurrency)];
}

/** The worker options `celeriac worker` builds from these flags (worker-flags.ts, -c as the handler passes it). */
function flags(args: Partial<WorkerArgs>): WorkerOptions {
  return { ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}), ...celeryWorkerOptions(args as WorkerArgs) };
}

describe('pool defaults: concurrency and prefetch', () => {
  it('async pool, nothing given: concurrency 16, prefetch 64, whatever the CPUs', () => {
    assert.deepEqual(capacity({}), [ASYNC_DEFAULT_CONCURRENCY, ASYNC_MIN_PREFETCH]);
    assert.deepEqual([ASYNC_DEFAULT_CONCURRENCY, ASYNC_MIN_PREFETCH], [16, 64]);
    assert.deepEqual(capacity(flags({})), [16, 64], 'celeriac worker -A app');
  });

  it('async pool, -c given alone: that concurrency, prefetch concurrency × 4 but at least 64', () => {
    assert.deepEqual(capacity(flags({ concurrency: 4 })), [4, 64]);
    assert.deepEqual(capacity(flags({ concurrency: 1 })), [1, 64]);
    assert.deepEqual(capacity(flags({ concurrency: 100 })), [100, 400]);
    assert.deepEqual(capacity({}, { concurrency: 8 }), [8, 64], "the app's concurrency is a given one");
  });

  it('a multiplier given keeps Celery’s meaning with either pool: prefetch = concurrency × it', () => {
    assert.deepEqual(capacity(flags({ concurrency: 4, 'prefetch-multiplier': 2 })), [4, 8]);
    assert.deepEqual(capacity({}, { prefetchMultiplier: 1 }), [16, 16]);
    assert.deepEqual(capacity({ concurrency: 3, prefetchMultiplier: 5 }), [3, 15]);
    assert.deepEqual(capacity({ pool: 'threads', appModule: 'x', concurrency: 3, prefetchMultiplier: 5 }), [3, 15]);
  });

  it('-O fair: prefetch = concurrency (an explicit multiplier still wins)', () => {
    assert.deepEqual(capacity(flags({ O: 'fair' })), [16, 16]);
    assert.deepEqual(capacity(flags({ O: 'fair', concurrency: 4 })), [4, 4]);
    assert.deepEqual(capacity(flags({ O: 'fair', concurrency: 4, 'prefetch-multiplier': 3 })), [4, 12]);
  });

  it("threads pool keeps Celery's defaults: the CPUs, × 4", () => {
    const cpus = availableParallelism();
    assert.deepEqual(capacity({ pool: 'threads', appModule: 'x' }), [cpus, cpus * 4]);
    assert.deepEqual(capacity({ pool: 'threads', appModule: 'x', concurrency: 4 }), [4, 16]);
  });

  it('autoscale: the prefetch is that of the max, by the same rule', () => {
    assert.deepEqual(capacity({ autoscale: { max: 10, min: 2 } }), [2, 64]);
    assert.deepEqual(capacity({ autoscale: { max: 30, min: 2 } }), [2, 120]);
    assert.deepEqual(capacity({ autoscale: { max: 10, min: 2 }, prefetchMultiplier: 2 }), [2, 20]);
  });
});
