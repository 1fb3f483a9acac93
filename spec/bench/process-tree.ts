/**
 * CPU time and resident memory of a process and all its descendants, read from /proc (Linux
 * only): for bench children that drive programs of their own (a Python Celery worker and its
 * prefork pool), whose use process.cpuUsage() of the driving process cannot see.
 */
import type { ProcessStats } from './ipc.js';
import { readMemory } from './proc-memory.js';
import { listPids, readProcStat, type ProcStat } from './proc-stat.js';

/** `root` and every process descending from it, with their CPU times. */
function readTree(root: number): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const pid of listPids()) {
    const stat = readProcStat(pid);
    if (stat) stats.set(pid, stat);
  }
  const tree = new Map<number, ProcStat>();
  const visit = (pid: number): void => {
    const stat = stats.get(pid);
    if (!stat) return;
    tree.set(pid, stat);
    for (const [child, { ppid }] of stats) if (ppid === pid) visit(child);
  };
  visit(root);
  return tree;
}

/**
 * Measures the tree under `root`: `start()` at 'go', then `stats()` gives CPU since then (a
 * process started meanwhile counts whole) and the highest summed VmRSS seen by a sampler
 * (shared pages are counted once per process, as `ps` would). The sampler reads only the
 * processes found at construction and at `start()`, so it costs the machine next to nothing.
 */
export class ProcessTreeMeter {
  private atStart = new Map<number, ProcStat>();
  private pids: number[];
  private peakRssKb = 0;
  private readonly sampler: NodeJS.Timeout;

  constructor(private readonly root: number) {
    this.pids = [root];
    this.sampler = setInterval(() => void this.sampleRss(), 250);
    this.sampler.unref();
  }

  start(): void {
    this.atStart = readTree(this.root);
    this.pids = [...this.atStart.keys()];
  }

  async stats(): Promise<ProcessStats> {
    clearInterval(this.sampler);
    const now = readTree(this.root);
    this.pids = [...now.keys()];
    await this.sampleRss();
    let userMs = 0;
    let systemMs = 0;
    for (const [pid, times] of now) {
      const before = this.atStart.get(pid);
      userMs += times.userMs - (before?.userMs ?? 0);
      systemMs += times.systemMs - (before?.systemMs ?? 0);
    }
    return { cpuUserMs: userMs, cpuSystemMs: systemMs, peakRssBytes: this.peakRssKb * 1024 };
  }

  private async sampleRss(): Promise<void> {
    const samples = await Promise.all(this.pids.map((pid) => readMemory(pid).catch(() => undefined)));
    const total = samples.reduce((sum, sample) => sum + (sample?.rssKb ?? 0), 0);
    this.peakRssKb = Math.max(this.peakRssKb, total);
  }
}
