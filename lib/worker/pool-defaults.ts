import { availableParallelism } from 'node:os';

/** Celery's prefetch multiplier, used whenever one applies and none was given. */
export const CELERY_PREFETCH_MULTIPLIER = 4;

/**
 * The async pool's concurrency when none is given. Tasks share one event loop, so the number of
 * CPUs says nothing about how many may be in flight: a task awaiting I/O holds a slot and no
 * CPU. A slot is also what a task holds while the worker still has messages waiting for one,
 * so a larger default leaves fewer prefetched messages idle behind slow tasks.
 */
export const ASYNC_DEFAULT_CONCURRENCY = 16;

/**
 * The async pool's smallest prefetch when no multiplier is given. A message holds its prefetch
 * slot until its outcome is stored and its ack has reached the broker, and the next delivery
 * comes a broker round trip after the ack: with fewer messages than this in flight, the worker
 * waits on those round trips instead of running tasks (docs/tasks.md has the figures).
 */
export const ASYNC_MIN_PREFETCH = 64;

/** How a worker's prefetch follows its concurrency (and, with autoscale, its max). */
export interface PrefetchRule {
  /** The multiplier given (option, app config, --prefetch-multiplier, -O fair); null: none. */
  readonly multiplier: number | null;
  /** The prefetch for a concurrency (or an autoscale max). */
  prefetchFor(concurrency: number): number;
}

/**
 * The prefetch rule of a pool:
 * - a multiplier given: prefetch = concurrency × multiplier, Celery's meaning, with any pool;
 * - none given, threads pool: concurrency × 4, as Celery's prefork pool;
 * - none given, async pool: concurrency × 4, but at least ASYNC_MIN_PREFETCH.
 */
export function prefetchRule(pool: string, multiplier: number | null): PrefetchRule {
  if (multiplier !== null || pool !== 'async') {
    const factor = multiplier ?? CELERY_PREFETCH_MULTIPLIER;
    return { multiplier, prefetchFor: (concurrency) => concurrency * factor };
  }
  return { multiplier, prefetchFor: (concurrency) => Math.max(concurrency * CELERY_PREFETCH_MULTIPLIER, ASYNC_MIN_PREFETCH) };
}

/** A pool's concurrency when none is given: ASYNC_DEFAULT_CONCURRENCY, or the CPUs for threads (Celery's prefork default). */
export function defaultConcurrency(pool: string): number {
  return pool === 'async' ? ASYNC_DEFAULT_CONCURRENCY : availableParallelism();
}
