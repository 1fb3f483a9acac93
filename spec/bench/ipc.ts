/**
 * Messages between the bench runner (parent) and the processes it forks.
 *
 * Every child follows one lifecycle, so the runner can drive any of them the same way:
 *
 *   fork → (child connects, declares, subscribes) → 'ready'
 *        ← 'go'        the measured interval starts; CPU usage is taken from here
 *   (child does its work) → 'progress'* → 'finished' { report }
 *        ← 'stop'      CPU usage and peak RSS are read here, before any teardown
 *   → 'stats' { stats } → (child closes its connections) → exit 0
 *
 * A child that fails sends 'error' and exits non-zero; the runner kills the scenario's other
 * children and records the failure.
 */

/** Resource use of one process over its measured interval ('go' → 'stop'). */
export interface ProcessStats {
  /** process.cpuUsage() user time, ms. */
  cpuUserMs: number;
  /** process.cpuUsage() system time, ms. */
  cpuSystemMs: number;
  /** Highest RSS seen by a 100 ms sampler running from process start to 'stop', bytes. */
  peakRssBytes: number;
}

/** Per-task send → result latency, ms, as measured inside the producer process. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * What a child measured. Times are epoch milliseconds with sub-millisecond resolution
 * (performance.timeOrigin + performance.now()), so the runner can compare instants taken
 * in different processes on the same machine.
 */
export interface WorkReport {
  /** Instant the measured work began (first publish, or first consume request). */
  startedAt: number;
  /** Instant the measured work was complete (last confirm, last result, last ack). */
  finishedAt: number;
  /** Tasks (messages) this process handled in the interval. */
  count: number;
  latency?: LatencySummary;
  /** Scenario-specific extra figures, printed as notes. */
  extra?: Record<string, number | string>;
}

export type ChildMessage =
  | { type: 'ready'; info?: Record<string, string> }
  | { type: 'progress'; text: string }
  | { type: 'finished'; report: WorkReport }
  | { type: 'stats'; stats: ProcessStats }
  | { type: 'error'; message: string; stack?: string };

export type ParentMessage = { type: 'go' } | { type: 'stop' };

/** Epoch ms with sub-ms resolution, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
