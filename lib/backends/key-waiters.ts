import type { TaskMeta } from '../protocol/task-meta.js';

/**
 * Who waits for which task's outcome in a KeyValueBackend: a Channel per task key with waiters,
 * holding as little as it can (thousands wait at once, each after a `delay()`).
 */

/** One waiting `waitForReady`; it leaves its channel exactly once (`done`). */
export interface Waiter {
  readonly taskId: string;
  readonly channel: Channel;
  readonly resolve: (meta: TaskMeta) => void;
  readonly reject: (reason: unknown) => void;
  done: boolean;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The waiters on one task's key: nearly always one, kept as it is; an array only when more come.
 * Invariant: registered in `channels` under its task id ⇔ it has a waiter. Known by the task
 * id, which its waiters' AsyncResult holds anyway: the key (taskKey) is built when a command
 * needs it, not kept.
 */
export interface Channel {
  readonly taskId: string;
  waiters: Waiter | Waiter[];
  /**
   * The SUBSCRIBE sent when the first waiter arrived; every waiter reads the key after it. Once
   * it succeeded, the shared SUBSCRIBED: a waiting key holds no promise of its own.
   */
  subscribed: Promise<void>;
}

/** What Channel.subscribed becomes once its SUBSCRIBE succeeded. */
const SUBSCRIBED: Promise<void> = Promise.resolve();

/**
 * A channel for `taskId` whose SUBSCRIBE is `subscribing`; it has no waiter yet. Its first
 * waiter handles the SUBSCRIBE's outcome (it calls subscribedOnce when it succeeded).
 */
export function newChannel(taskId: string, subscribing: Promise<void>): Channel {
  return { taskId, waiters: [], subscribed: subscribing };
}

/** The channel's SUBSCRIBE succeeded: it holds no promise of its own from now on. */
export function subscribedOnce(channel: Channel): void {
  channel.subscribed = SUBSCRIBED;
}

export function addWaiter(channel: Channel, waiter: Waiter): void {
  const { waiters } = channel;
  if (!Array.isArray(waiters)) channel.waiters = [waiters, waiter];
  else if (waiters.length === 0) channel.waiters = waiter;
  else waiters.push(waiter);
}

/** Removes the waiter; true when the channel has none left. */
export function removeWaiter(channel: Channel, waiter: Waiter): boolean {
  const { waiters } = channel;
  if (waiters === waiter) channel.waiters = [];
  else if (Array.isArray(waiters) && waiters.includes(waiter)) waiters.splice(waiters.indexOf(waiter), 1);
  const left = channel.waiters;
  return Array.isArray(left) && left.length === 0;
}

/** A copy of a channel's waiters (callers settle waiters, which removes them from the channel). */
export function waitersOf(channel: Channel): Waiter[] {
  return Array.isArray(channel.waiters) ? [...channel.waiters] : [channel.waiters];
}
