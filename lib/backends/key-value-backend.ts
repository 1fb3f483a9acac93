import type { Logger } from 'winston';
import { decodeMeta, encodeMeta } from './celery-meta.js';
import { chordJoin, chordKeys, decodeChordMembers, decodeGroup, encodeGroup, groupKey, type ChordJoin } from './chord-counter.js';
import { BackendError, CeleriacError, ClosedError } from '../errors/errors.js';
import { isReady } from '../protocol/states.js';
import {
  pendingMeta,
  type BackendOptions,
  type ChordPart,
  type ChordPartOutcome,
  type ResultBackend,
  type StoreContext,
  type WaitOptions,
} from './result-backend.js';
import type { TaskMeta } from '../protocol/task-meta.js';
import { WaitingKeys } from './waiting-keys.js';

/** Celery's key prefix for a task's outcome; the same string names the channel it is published on. */
export const TASK_KEY_PREFIX = 'celery-task-meta-';

export function taskKey(taskId: string): string {
  return TASK_KEY_PREFIX + taskId;
}

/** Callbacks a subscriber primitive delivers to the base. Neither throws. */
export interface SubscriberEvents {
  /** A message arrived on a channel this subscriber is subscribed to. */
  message(channel: string, message: string): void;
  /**
   * The subscription connection was lost and is back. Messages published in the gap are lost,
   * so the base re-subscribes and re-reads every key that still has waiters.
   */
  reconnected(): void;
}

/**
 * One subscription connection, opened by the subclass on the first wait and shared by every
 * waiter of the backend instance.
 *
 * Contract: calls take effect in call order (SUBSCRIBE a, UNSUBSCRIBE a, SUBSCRIBE a leaves `a`
 * subscribed); `subscribe` resolves only once messages on the channel will be delivered;
 * subscribing twice to one channel is harmless; errors are BackendError or ClosedError.
 */
export interface ChannelSubscriber {
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A ResultBackend over a key-value store with pub/sub, after Celery's BaseKeyValueStoreBackend.
 * A subclass provides the primitives (get, set-and-publish, delete, a channel subscriber, close);
 * this class owns key naming, the Celery JSON encoding, and waiting without polling.
 *
 * Waiting: one subscriber per instance, one subscription per key with waiters, any number of
 * waiters per key (see WaitingKeys for the rules a wait follows).
 */
export abstract class KeyValueBackend implements ResultBackend {
  readonly url: string;
  protected readonly logger: Logger;
  protected readonly resultExpiresMs: number;

  private readonly waits = new WaitingKeys({
    subscribe: (taskId) => this.subscribe(taskKey(taskId)),
    unsubscribe: (taskId) => this.unsubscribe(taskKey(taskId)),
    read: (taskId) => this.readMeta(taskId),
    failure: (err) => (this.closing ? this.closedError() : err),
  });
  private subscriber: ChannelSubscriber | undefined;
  private closing: Promise<void> | undefined;

  /** @param url the backend URL already redacted (no password). */
  protected constructor(url: string, options: BackendOptions) {
    this.url = url;
    this.logger = options.logger;
    this.resultExpiresMs = options.resultExpiresMs;
  }

  // ---- primitives a subclass provides --------------------------------------------------------

  /** The value under `key`, or null when there is none (never stored, forgotten or expired). */
  protected abstract get(key: string): Promise<string | null>;
  /**
   * Stores `value` under `key` (expiring after `ttlMs`, or never when 0) and publishes the same
   * value on the channel named `key`, as Celery's Redis backend does. Resolves once stored.
   */
  protected abstract set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * `set`, in one atomic step, unless the value stored under `key` has status SUCCESS (see
   * `storedStatus`); resolves false when it left the value alone. One round trip: this is the
   * write every task makes.
   */
  protected abstract setUnlessSucceeded(key: string, value: string, ttlMs: number): Promise<boolean>;
  protected abstract delete(key: string): Promise<void>;
  /** Atomically adds `by` to the integer under `key` (0 when absent), sets its expiry (`ttlMs`, 0 none), resolves with the new value. */
  protected abstract increment(key: string, by: number, ttlMs: number): Promise<number>;
  /** Opens the one subscription connection; called lazily, at most once per instance. */
  protected abstract openSubscriber(events: SubscriberEvents): ChannelSubscriber;
  /** Releases the store connection(s). Called once, after the subscriber is closed. */
  protected abstract closeStore(): Promise<void>;

  /**
   * The atomic step of chord counting; see the invariant in chord-counter.ts. Resolves with the
   * joined members in score order when the caller holds the claim, else null.
   */
  protected abstract join(join: ChordJoin): Promise<string[] | null>;

  // ---- ResultBackend ---------------------------------------------------------------------------

  async countRedeliveredStarts(taskId: string, add: number): Promise<number> {
    this.assertOpen();
    // At least a day, so a message that waits long in its queue keeps its count.
    return this.guard(() => this.increment(`celeriac-redelivered-starts-${taskId}`, add, Math.max(this.resultExpiresMs, 86_400_000)));
  }

  /**
   * Writes the meta as Celery does. Like Celery 5.2's `_store_result`, an outcome already stored
   * as SUCCESS is never overwritten (a redelivered duplicate must not replace it). Unlike Celery
   * (a read, then a write), the check and the write are one atomic step (`setUnlessSucceeded`):
   * no concurrent writer can slip a SUCCESS in between and have it replaced.
   */
  async storeResult(meta: TaskMeta, _context: StoreContext): Promise<void> {
    this.assertOpen();
    const value = encodeMeta(meta);
    const stored = await this.guard(() => this.setUnlessSucceeded(taskKey(meta.task_id), value, this.resultExpiresMs));
    if (!stored) this.logger.debug(`task ${meta.task_id} already SUCCESS; not storing ${meta.status}`);
  }

  async getMeta(taskId: string): Promise<TaskMeta> {
    this.assertOpen();
    const raw = await this.guard(() => this.get(taskKey(taskId)));
    return raw === null ? pendingMeta(taskId) : this.decode(taskId, raw);
  }

  /**
   * getMeta for a wait, as one then-chain instead of two async frames (a read per waiting get()).
   * Only called while open (a closed backend has no waits).
   */
  private readMeta(taskId: string): Promise<TaskMeta> {
    let raw: Promise<string | null>;
    try {
      raw = this.get(taskKey(taskId));
    } catch (err) {
      return Promise.reject(this.failureOf(err));
    }
    return raw.then(
      (value) => (value === null ? pendingMeta(taskId) : this.decode(taskId, value)),
      (err: unknown) => Promise.reject(this.failureOf(err)),
    );
  }

  async forget(taskId: string): Promise<void> {
    this.assertOpen();
    await this.guard(() => this.delete(taskKey(taskId)));
  }

  waitForReady<T = TaskMeta>(taskId: string, options: WaitOptions<T>): Promise<T> {
    if (this.closing) return Promise.reject(this.closedError());
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return this.waits.wait(taskId, options);
  }

  // ---- groups and chords (Celery's layout; counting rules in chord-counter.ts) --------------------

  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.guard(() => this.set(groupKey(groupId), encodeGroup(groupId, taskIds), this.resultExpiresMs));
  }

  async restoreGroup(groupId: string): Promise<string[] | null> {
    this.assertOpen();
    const raw = await this.guard(() => this.get(groupKey(groupId)));
    if (raw === null) return null;
    try {
      return decodeGroup(raw);
    } catch (err) {
      throw new BackendError(this.url, `undecodable group ${groupId}: ${messageOf(err)}`, { cause: err, permanent: true });
    }
  }

  async forgetGroup(groupId: string): Promise<void> {
    this.assertOpen();
    await this.guard(() => this.delete(groupKey(groupId)));
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.assertOpen();
    await this.guard(() => this.set(chordKeys(groupId).size, String(size), this.resultExpiresMs));
  }

  async chordPartReturn(part: ChordPart): Promise<ChordPartOutcome[] | null> {
    this.assertOpen();
    const members = await this.guard(() => this.join(chordJoin(part, this.resultExpiresMs)));
    return members === null ? null : decodeChordMembers(members);
  }

  async chordDone(groupId: string): Promise<void> {
    this.assertOpen();
    const keys = chordKeys(groupId);
    await this.guard(() => Promise.all([keys.joined, keys.extra, keys.size, keys.ids, keys.claim].map((key) => this.delete(key))));
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  // ---- encoding ----------------------------------------------------------------------------------

  /** Decodes a stored or published value; tolerates what Celery (and older/newer kombu) write. */
  protected decode(taskId: string, raw: string): TaskMeta {
    try {
      return decodeMeta(taskId, raw);
    } catch (err) {
      throw new BackendError(this.url, `undecodable result for task ${taskId}: ${messageOf(err)}`, { cause: err, permanent: true });
    }
  }

  // ---- waiting -------------------------------------------------------------------------------------

  /**
   * Subscribes `key` on the shared subscriber. The promise is awaited by every waiter of the
   * channel, so a rejection is always handled.
   */
  private subscribe(key: string): Promise<void> {
    try {
      return this.ensureSubscriber().subscribe(key);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** UNSUBSCRIBEs `key` (nothing to do once closing: closing the subscriber ends every subscription). */
  private unsubscribe(key: string): void {
    if (this.closing || !this.subscriber) return;
    this.subscriber.unsubscribe(key).catch((err: unknown) => {
      this.logger.debug(`unsubscribe ${key} failed: ${messageOf(err)}`);
    });
  }

  private ensureSubscriber(): ChannelSubscriber {
    this.subscriber ??= this.openSubscriber({
      message: (channel, message) => this.onMessage(channel, message),
      reconnected: () => this.recheckAll(),
    });
    return this.subscriber;
  }

  private onMessage(key: string, message: string): void {
    if (!key.startsWith(TASK_KEY_PREFIX)) return;
    const taskId = key.slice(TASK_KEY_PREFIX.length);
    if (!this.waits.has(taskId)) return;
    let meta: TaskMeta;
    try {
      meta = this.decode(taskId, message);
    } catch (err) {
      this.logger.warn(`ignoring message on ${key}: ${messageOf(err)}`);
      return;
    }
    if (isReady(meta.status)) this.waits.ready(taskId, meta, () => this.decode(taskId, message));
  }

  /** After the subscriber reconnects: make sure every waited key is subscribed, then re-read it. */
  private recheckAll(): void {
    for (const taskId of this.waits.taskIds()) {
      this.logger.debug(`re-reading ${taskKey(taskId)} after subscriber reconnect`);
      void this.subscribeThenRecheck(taskId);
    }
  }

  private async subscribeThenRecheck(taskId: string): Promise<void> {
    try {
      await this.ensureSubscriber().subscribe(taskKey(taskId));
      const meta = await this.getMeta(taskId);
      if (isReady(meta.status)) this.waits.ready(taskId, meta, () => structuredClone(meta));
    } catch (err) {
      // The waiters keep their subscription attempt and their own deadlines; a later message or
      // reconnect may still settle them.
      this.logger.warn(`re-reading ${taskKey(taskId)} after reconnect failed: ${messageOf(err)}`);
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------------

  private async shutDown(): Promise<void> {
    this.waits.failAll(this.closedError());
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    const results = await Promise.allSettled([subscriber?.close(), this.closeStore()]);
    for (const result of results) {
      if (result.status === 'rejected') this.logger.warn(`closing ${this.url}: ${messageOf(result.reason)}`);
    }
  }

  /** Throws ClosedError once `close` was called; every public operation starts with it. */
  protected assertOpen(): void {
    if (this.closing) throw this.closedError();
  }

  private closedError(): ClosedError {
    return new ClosedError(`result backend ${this.url} is closed`);
  }

  /** Runs a primitive; anything it throws that is not already a celeriac error becomes a BackendError. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      throw this.failureOf(err);
    }
  }

  /** What a primitive's failure surfaces as (see guard). */
  private failureOf(err: unknown): unknown {
    if (this.closing) return this.closedError();
    if (err instanceof CeleriacError) return err;
    return new BackendError(this.url, messageOf(err), { cause: err });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
