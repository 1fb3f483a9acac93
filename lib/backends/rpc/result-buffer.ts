import type { Logger } from 'winston';
import { isReady } from '../../protocol/states.js';
import type { TaskMeta } from '../../protocol/task-meta.js';

/**
 * Results received are kept up to this many, for a later get() of the same id; past it the
 * oldest nobody is waiting for go first. Dropping one no waiter has taken yet loses it for a
 * get() still to come, so that (and only that) is warned about.
 */
export const RPC_MAX_BUFFERED_RESULTS = 10_000;

interface Entry {
  readonly meta: TaskMeta;
  readonly expiresAt: number;
  /** A waiter has had this outcome, so dropping it loses nothing anyone asked for. */
  taken: boolean;
}

/**
 * The rpc:// client's results by task id, oldest first (Map order), bounded by
 * RPC_MAX_BUFFERED_RESULTS; an entry past its expiry reads as absent. Reads return copies, so
 * no caller can change what another reads.
 */
export class RpcResultBuffer {
  private readonly entries = new Map<string, Entry>();
  private warnedFull = false;

  constructor(
    private readonly resultExpiresMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * The kept state of taskId, or undefined when there is none (or it expired). Reading an
   * outcome (a ready state) counts as taking it.
   */
  read(taskId: string): TaskMeta | undefined {
    const entry = this.entries.get(taskId);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(taskId);
      return undefined;
    }
    if (isReady(entry.meta.status)) entry.taken = true;
    return structuredClone(entry.meta);
  }

  /** The kept status of taskId, expired or not (to guard a success against a redelivered duplicate). */
  statusOf(taskId: string): TaskMeta['status'] | undefined {
    return this.entries.get(taskId)?.meta.status;
  }

  /**
   * Keeps meta as the newest entry, `taken` when waiters were handed it; then drops the
   * oldest entries for which `isWaited` is false while more than the bound are kept.
   */
  keep(meta: TaskMeta, taken: boolean, isWaited: (taskId: string) => boolean): void {
    this.entries.delete(meta.task_id);
    const expiresAt = this.resultExpiresMs > 0 ? Date.now() + this.resultExpiresMs : Number.POSITIVE_INFINITY;
    this.entries.set(meta.task_id, { meta, expiresAt, taken });
    if (this.entries.size <= RPC_MAX_BUFFERED_RESULTS) return;
    for (const [taskId, entry] of this.entries) {
      if (this.entries.size <= RPC_MAX_BUFFERED_RESULTS) break;
      if (isWaited(taskId)) continue;
      this.entries.delete(taskId);
      if (!entry.taken && !this.warnedFull) {
        this.warnedFull = true;
        this.logger.warn(
          `rpc:// keeps at most ${RPC_MAX_BUFFERED_RESULTS} results nobody asked for; dropping the oldest (a later get() of one times out)`,
        );
      }
    }
  }

  forget(taskId: string): void {
    this.entries.delete(taskId);
  }
}
