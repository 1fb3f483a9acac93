/** Small numeric helpers shared by the bench children and the runner. */
import type { LatencySummary } from './ipc.js';

/** Nearest-rank percentile of an ascending array; q in [0, 1]. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Nearest-rank median (the lower middle of an even count, as elsewhere in the bench); undefined when empty. */
export function median(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : percentile(Float64Array.from(values).sort(), 0.5);
}

/** Summarises per-task latencies (ms). Sorts a copy; the input is left as is. */
export function summarizeLatency(latencies: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** Key of the roundtrip producer's extra figure: the longest time between two results coming in, ms (a stall, e.g. a fail-over). */
export const LONGEST_RESULT_GAP = 'longest gap between results ms';

/** Key of the countdown worker's extra figure: median lateness per tenth of the run, in start order. */
export const LATENESS_BY_TENTH = 'lateness p50 ms by tenth of the tasks, in start order';

/** Keys of the celeriac worker's extra figures: the concurrency and prefetch it ran with. */
export const WORKER_CONCURRENCY = 'worker concurrency';
export const WORKER_PREFETCH = 'worker prefetch';
