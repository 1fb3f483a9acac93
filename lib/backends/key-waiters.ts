import type { TaskMeta } from '../protocol/task-meta.js';

/**
 * Who waits for which task's outcome in a KeyValueBackend: a Channel per task key with waiters,
 * holding as little as it can (thousands wait at once, each after a `delay()`).
 */

/** One waiting `waitForReady`; it leaves its channel exactly once (`awaiting` becomes LEFT). */
export interface Waiter {
  readonly channel: Channel;
  /**
   * Settles the wait: with its value, or with a rejected promise to reject it (a wait keeps one
   * resolving function, not two).
   */
  readonly resolve: (outcome: unknown) => void;
  /** What the wait settles with, made from the ready meta (WaitOptions.map); a throw rejects it. */
  readonly map: ((meta: TaskMeta) => unknown) | undefined;
  /**
   * How many of its subscription and its send (WaitOptions.sending) it still waits for before it
   * reads the key (0 once it has read it or needs not); LEFT once it has left its channel.
   */
  awaiting: number;
  /** Its timeout length while a deadline is set for it (see WaitDeadlines), else undefined. */
  timeoutMs: number | undefined;
  /** The abort signal it listens to, with its listener (only a wait given a signal has one). */
  abort: { readonly signal: AbortSignal; readonly listener: () => void } | undefined;
}

/** Waiter.awaiting of a waiter that has left its channel. */
export const LEFT = -1;

/** False once the waiter has left its channel (settled, timed out, aborted, failed or closed). */
export function isWaiting(waiter: Waiter): boolean {
  return waiter.awaiting !== LEFT;
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
  /** Its SUBSCRIBE succeeded (messages on the key reach the backend). */
  subscribed: boolean;
}

/** A channel for `taskId` whose SUBSCRIBE is on its way; it has no waiter yet. */
export function newChannel(taskId: string): Channel {
  return { taskId, waiters: [], subscribed: false };
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

/** The channel's only waiter, or undefined when it has several (or none). */
export function soleWaiter(channel: Channel): Waiter | undefined {
  return Array.isArray(channel.waiters) ? undefined : channel.waiters;
}
