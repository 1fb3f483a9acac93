import { ResultTimeoutError } from '../errors/errors.js';
import { isReady } from '../protocol/states.js';
import type { TaskMeta } from '../protocol/task-meta.js';
import { MAX_TIMER_DELAY_MS } from '../util/long-timeout.js';
import { addWaiter, isWaiting, LEFT, newChannel, removeWaiter, soleWaiter, waitersOf, type Channel, type Waiter } from './key-waiters.js';
import type { WaitOptions } from './result-backend.js';
import { WaitDeadlines } from './wait-deadlines.js';

/** What WaitingKeys asks of its KeyValueBackend. None of these throws. */
export interface WaitingKeysHost {
  /** SUBSCRIBEs the task's key; keys that go out in one command may share one promise. */
  subscribe(taskId: string): Promise<void>;
  /** UNSUBSCRIBEs the task's key (its failure is the host's to report). */
  unsubscribe(taskId: string): void;
  /** The stored meta (PENDING when none). */
  read(taskId: string): Promise<TaskMeta>;
  /** What a wait fails with for `err` (the host's ClosedError once it is closing). */
  failure(err: unknown): unknown;
}

/** The channels whose SUBSCRIBE went out in one command (`subscribing`: its promise, shared by them). */
interface Turn {
  readonly subscribing: Promise<void>;
  readonly channels: Channel[];
}

/**
 * The waits of a KeyValueBackend: one Channel per task key with waiters, any number of waiters
 * per key. A waiter subscribes first and reads the key second, so a result stored between the
 * two is seen either by the read or by the message. Every waiter leaves exactly once (result,
 * timeout, abort, error or close): its deadline is released, its abort listener removed, and
 * the key unsubscribed when it was the last one there.
 *
 * What a wait holds is per-`delay()` memory, so it holds little: one resolving function, no
 * closure but its send's (WaitOptions.sending), one handler per SUBSCRIBE command for all the
 * keys in it (a Turn), and one timer per timeout length (WaitDeadlines), not one per wait.
 */
export class WaitingKeys {
  readonly #channels = new Map<string, Channel>();
  /** The channels whose SUBSCRIBE went into the subscriber's latest command not yet answered. */
  #turn: Turn | undefined;
  readonly #deadlines = new WaitDeadlines<Waiter>(isWaiting, (waiter, timeoutMs) => {
    waiter.timeoutMs = undefined; // expired: nothing to release
    this.fail(waiter, new ResultTimeoutError(waiter.channel.taskId, timeoutMs));
  });

  constructor(private readonly host: WaitingKeysHost) {}

  /** See ResultBackend.waitForReady (the caller has checked that it is open and the signal not aborted). */
  wait<T>(taskId: string, options: WaitOptions<T>): Promise<T> {
    const { signal, timeoutMs, sending } = options;
    return new Promise<T>((resolve) => {
      let channel = this.#channels.get(taskId);
      if (!channel) {
        channel = newChannel(taskId);
        this.#channels.set(taskId, channel);
        this.#subscribe(channel);
      }
      const waiter: Waiter = {
        channel,
        resolve: resolve as (outcome: unknown) => void,
        map: options.map,
        awaiting: (channel.subscribed ? 0 : 1) + (sending ? 1 : 0),
        timeoutMs: undefined,
        abort: undefined,
      };
      addWaiter(channel, waiter);
      if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_DELAY_MS) {
        waiter.timeoutMs = Math.max(0, timeoutMs);
        this.#deadlines.add(waiter, waiter.timeoutMs);
      }
      if (signal) this.#watchSignal(waiter, signal);
      if (sending) this.#watchSend(waiter, sending);
      else if (waiter.awaiting === 0) this.#read(waiter);
    });
  }

  // The handlers a wait keeps are made in methods of their own, so that they hold the waiter
  // alone, not the context of `wait` with its options.

  #watchSignal(waiter: Waiter, signal: AbortSignal): void {
    const listener = (): void => this.fail(waiter, signal.reason);
    waiter.abort = { signal, listener };
    signal.addEventListener('abort', listener, { once: true });
  }

  /**
   * For a task still being sent the read also waits for the send's confirm, and a failed send
   * fails the wait at once (see WaitOptions.sending).
   */
  #watchSend(waiter: Waiter, sending: Promise<unknown>): void {
    sending.then(
      () => this.#arrived(waiter),
      (err: unknown) => this.fail(waiter, this.host.failure(err)),
    );
  }

  /** The task ids waited for now. */
  taskIds(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * A ready meta arrived for `taskId`: every waiter settles with it, each with its own copy
   * (`copy` makes one; the first waiter gets `meta` itself), so one caller mutating its meta
   * cannot affect another.
   */
  ready(taskId: string, meta: TaskMeta, copy: () => TaskMeta): void {
    const channel = this.#channels.get(taskId);
    if (!channel) return;
    const sole = soleWaiter(channel);
    if (sole) return this.#succeed(sole, meta);
    waitersOf(channel).forEach((waiter, i) => this.#succeed(waiter, i === 0 ? meta : copy()));
  }

  /** Whether anyone waits for `taskId` (a message for a key nobody waits for is not decoded). */
  has(taskId: string): boolean {
    return this.#channels.has(taskId);
  }

  /** Fails every wait (the backend is closing). */
  failAll(error: unknown): void {
    for (const waiter of [...this.#channels.values()].flatMap(waitersOf)) this.fail(waiter, error);
    this.#channels.clear();
  }

  /** Rejects the wait with `reason` unless it has already left. */
  fail(waiter: Waiter, reason: unknown): void {
    // Resolving with a rejected promise rejects the wait (see Waiter.resolve).
    if (this.#leave(waiter)) waiter.resolve(Promise.reject(reason));
  }

  /** Settles the wait with the ready meta, or what its `map` makes of it (a throw rejects it). */
  #succeed(waiter: Waiter, meta: TaskMeta): void {
    if (!this.#leave(waiter)) return;
    const { map } = waiter;
    let outcome: unknown = meta;
    try {
      if (map) outcome = map(meta);
    } catch (err) {
      outcome = Promise.reject(err);
    }
    waiter.resolve(outcome);
  }

  /** SUBSCRIBEs the channel's key; the channels of one command share one Turn and one pair of handlers. */
  #subscribe(channel: Channel): void {
    const subscribing = this.host.subscribe(channel.taskId);
    let turn = this.#turn;
    if (turn?.subscribing !== subscribing) {
      const started: Turn = (turn = this.#turn = { subscribing, channels: [] });
      subscribing.then(
        () => this.#turnDone(started, null),
        (err: unknown) => this.#turnDone(started, this.host.failure(err)),
      );
    }
    turn.channels.push(channel);
  }

  /** A SUBSCRIBE command answered: each of its waiters reads its key (once sent), or fails with `error`. */
  #turnDone(turn: Turn, error: unknown): void {
    if (this.#turn === turn) this.#turn = undefined;
    for (const channel of turn.channels) {
      if (error === null) channel.subscribed = true;
      for (const waiter of waitersOf(channel)) {
        if (error === null) this.#arrived(waiter);
        else this.fail(waiter, error);
      }
    }
  }

  /** The waiter's subscription or its send is done; once both are, it reads the key. */
  #arrived(waiter: Waiter): void {
    // awaiting ≤ 0: left (LEFT), or nothing left to wait for (an arrival beyond the count changes nothing).
    if (waiter.awaiting <= 0 || --waiter.awaiting > 0) return;
    this.#read(waiter);
  }

  #read(waiter: Waiter): void {
    this.host.read(waiter.channel.taskId).then(
      (meta) => {
        if (isReady(meta.status)) this.#succeed(waiter, meta);
      },
      (err: unknown) => this.fail(waiter, this.host.failure(err)),
    );
  }

  /** Removes the waiter and everything it holds; false when it had already left. */
  #leave(waiter: Waiter): boolean {
    if (!isWaiting(waiter)) return false;
    waiter.awaiting = LEFT;
    if (waiter.timeoutMs !== undefined) this.#deadlines.release(waiter.timeoutMs);
    if (waiter.abort) waiter.abort.signal.removeEventListener('abort', waiter.abort.listener);
    const { channel } = waiter;
    if (removeWaiter(channel, waiter) && this.#channels.get(channel.taskId) === channel) {
      this.#channels.delete(channel.taskId);
      this.host.unsubscribe(channel.taskId);
    }
    return true;
  }
}
