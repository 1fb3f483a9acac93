/**
 * What the scale scenarios (scale.ts) share: their sizes (scaled by --scale-factor), and a
 * driver for children of which only some report 'finished' — the scale workers never do: the
 * run is over when the summed ticks (scale-ticks.ts) reach the scenario's total.
 */
import type { BenchChild } from './child.js';
import { now, type ProcessStats, type WorkReport } from './ipc.js';
import type { ProgressTally } from './scale-ticks.js';
import { SETUP_TIMEOUT_MS, type BenchOptions } from './scenario.js';
import { serviceCpuMeter, type ServiceCpu } from './broker-cpu.js';

/** A scenario's full size times --scale-factor, at least 1. */
export function scaled(size: number, options: BenchOptions): number {
  return Math.max(1, Math.round(size * (options.scaleFactor ?? 1)));
}

/** Percent labels of `fractions` (0.25 → '25%'). */
export const percent = (fraction: number): string => `${Math.round(fraction * 100)}%`;

export interface DriveResult {
  /** Reports of the children asked for ('reporting'), in that order. */
  reports: WorkReport[];
  /** Every child's stats, in the children's order. */
  stats: ProcessStats[];
  serviceCpu: ServiceCpu;
  /** The instant 'go' was sent (the runner's clock, which the children's share). */
  goAt: number;
}

/**
 * Waits until every child is ready, reads the tally's 'idle at go' figures, says 'go' to all
 * (in the given order: consumers first), waits for the reports of `reporting` and for the
 * tally's total (if any), then stops every child and collects its stats.
 */
export async function drive(
  children: BenchChild[],
  reporting: BenchChild[],
  tally: ProgressTally | null,
  options: BenchOptions,
  timeoutMs = options.timeoutMs,
): Promise<DriveResult> {
  await Promise.all(children.map((child) => child.ready(SETUP_TIMEOUT_MS)));
  await tally?.readNow('idle at go');
  const services = serviceCpuMeter(options.brokerPids);
  const goAt = now();
  for (const child of children) child.send({ type: 'go' });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the tasks were not all done within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  });
  try {
    const [reports] = await Promise.race([
      Promise.all([Promise.all(reporting.map((child) => child.report(timeoutMs))), tally?.finished]),
      timeout,
    ]);
    const serviceCpu = services();
    const stats = await Promise.all(children.map((child) => child.stop(SETUP_TIMEOUT_MS)));
    return { reports, stats, serviceCpu, goAt };
  } finally {
    clearTimeout(timer);
  }
}

/** Several workers' stats as one: CPU summed, peak RSS the highest. */
export function combined(stats: ProcessStats[]): ProcessStats {
  return {
    cpuUserMs: stats.reduce((sum, s) => sum + s.cpuUserMs, 0),
    cpuSystemMs: stats.reduce((sum, s) => sum + s.cpuSystemMs, 0),
    peakRssBytes: Math.max(...stats.map((s) => s.peakRssBytes)),
  };
}
