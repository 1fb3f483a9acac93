import { createHash } from 'node:crypto';
import type { Logger } from 'winston';
import type { App } from '../app/app.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { compileEntry, type ScheduledEntry } from '../app/beat-schedule.js';
import { beatStore, type BeatStore } from './store.js';
import { newId } from '../util/ids.js';

export interface BeatOptions {
  /** How long the leader lock lives without renewal: fail-over takes at most this (plus a tick). Default '10s'. */
  lockTtl?: Duration;
  /** Runs missed by more than this (nobody led) are skipped, not sent late. Default '5m'. */
  grace?: Duration;
  /** A store to use instead of the app's result backend (or the backend at `redisUrl`). */
  store?: BeatStore;
  /** A backend URL (redis://) for the lock and state, when the app's backend is not redis://. */
  redisUrl?: string;
  /**
   * Longest pause between two looks at the schedule (Celery's --max-interval). Beat looks every
   * lockTtl / 3, at most every second, so only a shorter value changes anything. Default: none.
   */
  maxInterval?: Duration;
  logger?: Logger;
}

/**
 * The periodic-task scheduler (`celeriac beat`, `celeriac worker -B`). Any number may run; one
 * leads, through a lock with a TTL in Redis that the leader renews every tick (ttl / 3).
 *
 * The rule, per entry: the store keeps the due time of the last run sent. The leader sends
 * every due time after it up to now, oldest first, each as its own task whose id is derived
 * from (entry name, due time), and records it — only while it still holds the lock — after the
 * broker confirmed the message. So across a fail-over:
 * - no run is skipped: the new leader starts from the last recorded due time and sends the runs
 *   that fell due while nobody led (fail-over takes at most the lock TTL), unless they are
 *   older than `grace` (default 5 min: after a long outage, stale runs are skipped, logged);
 * - no run is sent twice, except when a leader dies between the broker's confirm and the
 *   record (a few ms): the run is sent again with the same task id (at-least-once; the task id
 *   is the idempotency key, as everywhere in celeriac).
 * A new entry starts from now: its first run is its next due time.
 */
export class Beat {
  readonly id = newId();
  readonly entries: ScheduledEntry[];
  readonly lockTtlMs: number;
  readonly graceMs: number;
  /** Pause between two ticks: lockTtl / 3, at most 1 s and at most maxInterval, at least 50 ms. */
  readonly tickMs: number;
  readonly logger: Logger;
  readonly #store: BeatStore;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(
    readonly app: App,
    options: BeatOptions = {},
  ) {
    this.entries = Object.entries(app.config.beatSchedule).map(([name, entry]) => compileEntry(name, entry));
    this.lockTtlMs = toMilliseconds(options.lockTtl ?? '10s', 'lockTtl');
    this.graceMs = toMilliseconds(options.grace ?? '5m', 'grace');
    const maxIntervalMs = options.maxInterval === undefined ? Infinity : toMilliseconds(options.maxInterval, 'maxInterval');
    this.tickMs = Math.max(50, Math.min(1000, this.lockTtlMs / 3, maxIntervalMs));
    this.logger = (options.logger ?? app.logger).child({ beat: this.id.slice(0, 8) });
    this.#store = options.store ?? beatStore(app, options.redisUrl ?? app.config.backend);
  }

  get leading(): boolean {
    return this.#leading;
  }

  async start(): Promise<void> {
    const entries = this.entries.map((e) => `${e.name} (${e.entry.task})`).join(', ') || '(none)';
    this.logger.info(`beat ${this.id} starting: ${this.entries.length} entr${this.entries.length === 1 ? 'y' : 'ies'}: ${entries}`);
    await this.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.tick().finally(() => this.schedule());
    }, this.tickMs);
  }

  /** One round: take or renew the lock; when leading, send what is due. */
  async tick(): Promise<void> {
    let leading: boolean;
    try {
      leading = await this.#store.lead(this.id, this.lockTtlMs);
    } catch (error) {
      leading = false;
      this.logger.warn(`beat: the lock store is unreachable (${(error as Error).message}); not leading`);
    }
    if (leading !== this.#leading) this.logger.info(leading ? `beat ${this.id} is the leader` : `beat ${this.id} is no longer the leader`);
    this.#leading = leading;
    if (!leading) return;
    for (const entry of this.entries) {
      if (this.#stopped) return;
      try {
        if (!(await this.runDue(entry))) {
          this.#leading = false;
          return;
        }
      } catch (error) {
        this.logger.error(`beat: entry ${entry.name} failed: ${(error as Error).message}; retried next tick`);
      }
    }
  }

  /** Sends the entry's due runs; false when leadership was lost. */
  private async runDue(scheduled: ScheduledEntry): Promise<boolean> {
    const now = Date.now();
    let last = await this.#store.lastRun(scheduled.name);
    if (last === null) {
      // New entry: start from now.
      return this.#store.recordRun(this.id, scheduled.name, now);
    }
    for (let due = scheduled.next(last); due <= now; due = scheduled.next(last)) {
      if (due < now - this.graceMs) {
        const resume = scheduled.next(now - this.graceMs) - 1;
        this.logger.warn(`beat: ${scheduled.name}: runs due from ${new Date(due).toISOString()} are older than the grace window; skipped`);
        if (!(await this.#store.recordRun(this.id, scheduled.name, Math.max(resume, due)))) return false;
        last = Math.max(resume, due);
        continue;
      }
      if (this.#stopped) return true;
      const { entry } = scheduled;
      const taskId = runId(scheduled.name, due);
      await this.app.sendTask(entry.task, entry.args ?? [], entry.kwargs ?? {}, { ...entry.options, taskId });
      this.logger.info(`Scheduler: Sending due task ${scheduled.name} (${entry.task}) due ${new Date(due).toISOString()} id ${taskId}`);
      if (!(await this.#store.recordRun(this.id, scheduled.name, due))) return false;
      last = due;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    // Not releasing only delays the next leader by the lock TTL: worth a warning, not a failure.
    await this.#store
      .release(this.id)
      .catch((error: Error) => this.logger.warn(`beat: could not release the lock (${error.message}); it lapses in ${this.lockTtlMs} ms`));
    await this.#store.close();
  }
}

/** The task id of one run: the same in every beat process, so a re-sent run keeps its id. */
export function runId(entry: string, due: number): string {
  const hex = createHash('sha1').update(`celeriac-beat\u0000${entry}\u0000${due}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 3) | 8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
