/**
 * Celery's --max-tasks-per-child and --max-memory-per-child for one runner of tasks: a thread of
 * the threads pool, or the worker process itself for the async pool. After each task it runs,
 * `afterTask` says whether the runner is due to be replaced, and why; the task that crossed a
 * limit completes first (as Celery's child finishes the task that took it past its memory).
 */
export class ChildLimits {
  #tasks = 0;

  constructor(
    readonly maxTasks: number | null,
    /** In KiB, as Celery's option. */
    readonly maxMemoryKiB: number | null,
  ) {}

  /** True when neither limit is set: nothing needs counting or measuring. */
  get unlimited(): boolean {
    return this.maxTasks === null && this.maxMemoryKiB === null;
  }

  /**
   * Counts a finished task; `memoryBytes` is what the runner holds now (read only when a memory
   * limit is set). Returns why the runner is due to be replaced, or null.
   */
  afterTask(memoryBytes: () => number): string | null {
    this.#tasks += 1;
    if (this.maxTasks !== null && this.#tasks >= this.maxTasks) return `ran ${this.#tasks} tasks (max-tasks-per-child ${this.maxTasks})`;
    if (this.maxMemoryKiB !== null) {
      const kib = Math.round(memoryBytes() / 1024);
      if (kib > this.maxMemoryKiB) return `holds ${kib} KiB (max-memory-per-child ${this.maxMemoryKiB} KiB)`;
    }
    return null;
  }
}
