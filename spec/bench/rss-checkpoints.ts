/**
 * The RSS of this process at a few points of a long run, to see whether it stays flat: once
 * when the run starts (idle), then when the 1st, 25 %, 50 %, 75 % and last of N tasks are
 * counted. Cheap enough to call per task: `count()` compares the count with the next
 * precomputed threshold and reads the RSS only when it is reached (five times per run).
 */

const FRACTIONS = [0.25, 0.5, 0.75];

const rssMb = (): number => Math.round(process.memoryUsage.rss() / 2 ** 20);

export class RssCheckpoints {
  /** Label → RSS MB, in the order taken. */
  readonly figures: Record<string, number> = {};
  private readonly thresholds: number[];
  /** The label of each threshold, made here: the first toLocaleString() loads locale data (~30 ms). */
  private readonly labels: string[];
  private next = 0;

  /** Prepares the checkpoints; make it before timing starts, then call start(). */
  constructor(n: number) {
    this.thresholds = [...new Set([1, ...FRACTIONS.map((f) => Math.ceil(f * n)), n])].sort((a, b) => a - b);
    this.labels = this.thresholds.map((count) => `task ${count.toLocaleString('en-US')}`);
  }

  /** Takes the idle reading. */
  start(idleLabel: string): void {
    this.figures[idleLabel] = rssMb();
  }

  /** Call with 1, 2, … N as tasks are counted. */
  count(counted: number): void {
    if (counted !== this.thresholds[this.next]) return;
    this.figures[this.labels[this.next]] = rssMb();
    this.next++;
  }
}
