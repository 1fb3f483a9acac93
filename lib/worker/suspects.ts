import { ArraySet } from '../util/array-collections.js';

/** How many suspects may run at once on one worker, beside healthy work. */
export const SUSPECT_SLOTS = 1;

/**
 * The worker's suspects: redelivered requests whose task already started on a redelivered
 * message before (it was running, or waiting in the prefetch, when some worker died), with
 * their count of such starts.
 *
 * Invariant: at most SUSPECT_SLOTS suspects run at once, inside the worker's `concurrency` and
 * beside healthy work — a suspect never waits for healthy tasks to finish and healthy tasks
 * never wait for a suspect, so a long or hung task cannot leave slots idle (a suspect that never
 * finishes holds back only the suspects behind it). Since no two suspects run together, a
 * worker death while one runs is charged to it and to the non-suspects beside it, which are
 * suspects from then on: a task that kills its worker cannot go on taking a bystander down with
 * it run after run. The slot goes to the waiting suspect with the fewest counted starts (first
 * arrived among equals): a task that kills workers gathers starts fastest, so the tasks that were
 * merely beside it get the slot — and finish — first.
 */
export class Suspects<R extends object> {
  readonly #starts = new WeakMap<R, number>();
  readonly #running = new ArraySet<R>();
  /** Suspects added and not started yet: while there are none, next() answers without a scan. */
  #notStarted = 0;

  /** Marks `request` a suspect that started `priorStarts` (> 0) times on redelivered messages. */
  add(request: R, priorStarts: number): void {
    if (!this.#starts.has(request)) this.#notStarted++;
    this.#starts.set(request, priorStarts);
  }

  has(request: R): boolean {
    return this.#starts.has(request);
  }

  /** The waiting suspect that may start now, if a suspect slot is free. */
  next(waiting: Iterable<R>): R | undefined {
    if (this.#notStarted === 0 || this.#running.size >= SUSPECT_SLOTS) return undefined;
    let pick: R | undefined;
    let fewest = Infinity;
    for (const request of waiting) {
      const starts = this.#starts.get(request);
      if (starts !== undefined && starts < fewest) {
        pick = request;
        fewest = starts;
      }
    }
    return pick;
  }

  /** `request` (a suspect given by next()) took a slot. */
  started(request: R): void {
    this.#notStarted--;
    this.#running.add(request);
  }

  /** Its code finished, or it was not run after all: the slot is free. Idempotent. */
  finished(request: R): void {
    this.#running.delete(request);
  }
}
