import type { ConfirmChannel } from 'amqplib';
import { closeQuietly } from './connection.js';

/**
 * Publish channels taken out of use while publishes written to them still wait for their
 * confirms (see Publisher.retire). Invariant: a channel is here only while `waiting` > 0 of its
 * publishes are unsettled; nothing is written to it; the last one to settle closes it.
 */
export class RetiredChannels {
  readonly #waiting = new Map<ConfirmChannel, number>();

  /** Retires `channel` with `waiting` unsettled publishes on it; with none, closes it now. */
  retire(channel: ConfirmChannel, waiting: number): void {
    if (waiting === 0) void closeQuietly(channel);
    else this.#waiting.set(channel, waiting);
  }

  /** One publish on `channel` settled (a no-op for a channel that is not retired). */
  release(channel: ConfirmChannel): void {
    const waiting = this.#waiting.get(channel);
    if (waiting === undefined) return;
    if (waiting > 1) {
      this.#waiting.set(channel, waiting - 1);
      return;
    }
    this.#waiting.delete(channel);
    void closeQuietly(channel);
  }

  /** The channel closed by itself: its publishes are the publisher's to handle as for any closed channel. */
  forget(channel: ConfirmChannel): void {
    this.#waiting.delete(channel);
  }
}
