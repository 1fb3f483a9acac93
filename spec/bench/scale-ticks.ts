/**
 * Progress of a long scale run as the runner sees it, across several worker processes: each
 * worker sends a tick (its own count of tasks done, and when the last of them was done) every
 * `stride` tasks and every TICK_FLUSH_MS while its count moved; the runner sums the workers'
 * latest counts, reads the processes' RSS from /proc as the sum crosses each checkpoint, and
 * keeps the ticks, so a run's throughput can be cut by tenths afterwards.
 *
 * Ticks ride on the children's progress messages (child-runtime.ts), marked with TICK_PREFIX;
 * the runner's progress handler (`ProgressTally.onProgress`) takes them out of the printed lines.
 *
 * Invariants: a worker's count only grows; a tick's `at` is the instant its `done`-th task was
 * done, not when the tick was sent, so a flush by the timer moves no instant; the sum reaches the
 * scenario's total only once every worker has ticked its last task.
 */
import { now } from './ipc.js';
import { readMemory } from './proc-memory.js';

export const TICK_PREFIX = '@tick ';
/** A worker's count reaches the runner at most this late, even between strides. */
const TICK_FLUSH_MS = 200;

interface Tick {
  done: number;
  at: number;
}

/** The worker side: call `taskDone()` on every task done after 'go'. */
export class TickSender {
  private done = 0;
  private lastAt = 0;
  private sent = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly child: { progress(text: string): void },
    private readonly stride: number,
  ) {
    this.timer = setInterval(() => this.send(), TICK_FLUSH_MS);
    this.timer.unref();
  }

  taskDone(): void {
    this.done++;
    this.lastAt = now();
    if (this.done - this.sent >= this.stride) this.send();
  }

  get count(): number {
    return this.done;
  }

  stop(): void {
    clearInterval(this.timer);
    this.send();
  }

  private send(): void {
    if (this.done === this.sent) return;
    this.sent = this.done;
    this.child.progress(TICK_PREFIX + JSON.stringify({ done: this.done, at: this.lastAt } satisfies Tick));
  }
}

/** Stride for a run of `total` tasks: about a thousand ticks in all. */
export const strideOf = (total: number): number => Math.max(1, Math.floor(total / 1000));

/** A point of the run at which RSS is read: when the summed count reaches `count`. */
export interface Checkpoint {
  label: string;
  count: number;
}

/** One checkpoint's readings: each watched process's RSS, MB, in watch order. */
export interface CheckpointReading {
  label: string;
  at: number;
  rssMb: Record<string, number>;
}

/** The runner side: sums the ticks of the workers it is given as progress labels. */
export class ProgressTally {
  /** Every tick in arrival order, with the summed count after it. */
  readonly timeline: Array<{ at: number; total: number }> = [];
  readonly readings: CheckpointReading[] = [];
  private readonly latest = new Map<string, number>();
  private readonly watched = new Map<string, number>();
  private readonly reads: Array<Promise<void>> = [];
  private next = 0;
  private total = 0;
  private reachedTotal: () => void = () => undefined;
  /** Resolves when the summed count reaches the last checkpoint's. */
  readonly finished: Promise<void>;

  constructor(
    private readonly checkpoints: Checkpoint[],
    private readonly print: (label: string, text: string) => void,
  ) {
    this.finished = new Promise((resolve) => (this.reachedTotal = resolve));
  }

  /** RSS of this process is read at each checkpoint, under `name`. */
  watch(name: string, pid: number | undefined): void {
    if (pid !== undefined) this.watched.set(name, pid);
  }

  /** Reads every watched process now, as the reading of `label` (e.g. before the work starts). */
  readNow(label: string): Promise<void> {
    const reading = this.read(label);
    this.reads.push(reading);
    return reading;
  }

  /** The children's progress handler: ticks are counted, other lines printed. */
  readonly onProgress = (label: string, text: string): void => {
    if (!text.startsWith(TICK_PREFIX)) return this.print(label, text);
    const tick = JSON.parse(text.slice(TICK_PREFIX.length)) as Tick;
    this.total += tick.done - (this.latest.get(label) ?? 0);
    this.latest.set(label, tick.done);
    this.timeline.push({ at: tick.at, total: this.total });
    while (this.next < this.checkpoints.length && this.total >= this.checkpoints[this.next].count) {
      this.reads.push(this.read(this.checkpoints[this.next].label));
      this.next++;
    }
    if (this.next === this.checkpoints.length) this.reachedTotal();
  };

  /** All readings, once the ones under way are done. */
  async settled(): Promise<CheckpointReading[]> {
    await Promise.all(this.reads);
    return this.readings;
  }

  /** The instant the summed count first reached `count` (by the workers' clocks). */
  reachedAt(count: number): number {
    let first = Number.POSITIVE_INFINITY;
    // Ticks of two workers may arrive slightly out of their own time order: take the earliest
    // instant at which the running sum was at least `count`.
    for (const point of this.timeline) if (point.total >= count) first = Math.min(first, point.at);
    return first;
  }

  private async read(label: string): Promise<void> {
    const at = now();
    const entries = await Promise.all(
      [...this.watched].map(async ([name, pid]) => {
        try {
          return [name, Math.round((await readMemory(pid)).rssKb / 1024)] as const;
        } catch {
          return [name, Number.NaN] as const; // the process is gone
        }
      }),
    );
    this.readings.push({ label, at, rssMb: Object.fromEntries(entries) });
  }
}

/** The readings as one line per watched process: `name RSS MB: label v, label v, …`. */
export function rssNotes(readings: CheckpointReading[]): string[] {
  const names = [...new Set(readings.flatMap((r) => Object.keys(r.rssMb)))];
  const ordered = [...readings].sort((a, b) => a.at - b.at);
  return names.map((name) => `${name} RSS MB: ${ordered.map((r) => `${r.label} ${r.rssMb[name] ?? '-'}`).join(', ')}`);
}
