import type { ConfirmChannel, Message } from 'amqplib';
import type { Logger } from 'winston';
import { BrokerConnectionError, ClosedError, PublishError } from '../../errors/errors.js';
import type { OutgoingMessage, PublishTarget } from '../transport.js';
import { closeQuietly, describeError, type ConnectionManager } from './connection.js';
import { returnKeyOf } from './properties.js';
import { SequenceWindow } from '../../util/sequence-window.js';
import { truncateText } from '../../util/truncate.js';
import { routeNameProblem } from '../route-names.js';
import { isChannelStateError } from './channel-errors.js';
import { fatesOfClosedChannel } from './closed-channel.js';
import { publishOptionsOf, returnKeyOfPending, wholeMs, whereWritten, type PendingPublish } from './pending-publish.js';
import { ReusedHeaderTable } from './reused-header-table.js';
import { PublishBacklog } from './publish-backlog.js';
import { ConfirmWindow, NACKED, type ConfirmFields } from './confirm-window.js';

/**
 * Publishes on one ConfirmChannel of the publishing connection, with many publishes in flight.
 *
 * Invariants:
 * - `pending` holds every unsettled publish in publish order; a publish rejects with
 *   'confirm-timeout' once it has waited `confirmTimeoutMs` during which the broker confirmed
 *   nothing (`lastProgress`): a stuck broker fails every waiting send, a busy one that keeps
 *   confirming fails none, however long a bulk send queues here. The oldest publish expires
 *   first, so one timer for it enforces the timeout. A publish's wait counts from when it was
 *   written to the socket, so a process too busy to write (or to read confirms) for a while
 *   does not time out its own publishes;
 * - a pending publish is either in the backlog (channel === null), waiting `retryDelayMs` to be
 *   put back at its head after a nack, or written to exactly one channel; a confirm, nack or
 *   return counts only if it comes from that channel;
 * - a nack is the broker not taking a publish this time (a quorum queue nacks while it has no
 *   leader, as during a fail-over): it is written again after `retryDelayMs`, until the broker
 *   has nacked it for `confirmTimeoutMs` (then it rejects with 'nacked') or the transport closes.
 *   The channel that nacked takes no more writes (`retired`): on RabbitMQ 3.10, a channel opened
 *   while a quorum queue's leader was being replaced nacks every later publish to that queue,
 *   while a new channel works. It is closed once none of its publishes is pending;
 * - nothing is written while `draining` (amqplib's buffer was full) until the channel's 'drain';
 * - at most `maxUnconfirmed` publishes (Infinity: no limit) are written to the current channel
 *   and unconfirmed (`unconfirmed` counts them); the rest wait in the backlog, in order, and are
 *   written as confirms free the window. RabbitMQ does less per message when fewer wait in it:
 *   a persistent message acked before the broker wrote it to disk is never written
 *   (docs/benchmarks.md);
 * - a basic.return is matched to its publish by returnKeyOf, which must be unique among pending
 *   publishes: a publish is matched by its messageId (a task message: its task id), else by its
 *   correlationId (an rpc:// result, a chord part), unless an unsettled publish already claims
 *   that key (`keysInFlight`: the same task id sent twice at once); then, and when it has
 *   neither, it carries the PUBLISH_SEQ_HEADER stamp (one more header to encode, and a copy of
 *   the headers, so only when needed). A publish that timed out while written to a channel may
 *   still be returned there, so its key stays claimed until that channel closes
 *   (`keysHeldByChannel`): a re-send of the same task id in the meantime is stamped;
 * - when a channel closes, its unconfirmed publishes go back to the front of the backlog, in
 *   order, and are written again on the next channel (at-least-once: the broker may have
 *   taken some of them) — unless the transport is closing, then they reject with 'closed', or
 *   the broker closed it for refusing an exchange (see onChannelClosed);
 * - a publish that fails to encode rejects alone: amqplib encodes before it writes anything or
 *   takes a confirm slot, so its channel goes on and nothing written to it is written again;
 * - a publish whose exchange name or routing key is over 255 bytes rejects alone, unwritten;
 * - what a pending publish keeps is what a re-publish needs and no more: the caller's message
 *   (amqplib's options are built from it at each write, and the stamp added then), its target
 *   (shared by every publish to that destination) and its bookkeeping. The broker's confirms
 *   find their publishes through one ConfirmWindow and one ack/nack handler per channel, not a
 *   callback per publish.
 */
export class Publisher {
  private seq = 0;
  /** Writes so far (see PendingPublish.writeOrder). */
  private writes = 0;
  /** Unsettled publishes by seq (a bulk sender keeps tens of thousands here; see SequenceWindow). */
  private readonly pending = new SequenceWindow<PendingPublish>();
  /** Publishes waiting to be written (a settled one is skipped when taken). */
  private readonly backlog = new PublishBacklog<PendingPublish>();
  private channel: ConfirmChannel | null = null;
  private opening = false;
  private draining = false;
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() of the broker's latest confirm or nack. */
  private lastProgress = 0;
  /** Written to amqplib since its last flush to the socket; their sentAt is set at the flush. */
  private unflushed: PendingPublish[] = [];
  private closing = false;
  private idle: (() => void) | null = null;
  /** Pending publishes written to `channel` (see the invariants). */
  private unconfirmed = 0;
  /** The messageIds and correlationIds unstamped pending publishes are matched by (see the invariants). */
  private readonly keysInFlight = new Set<string>();
  /** Keys of publishes that timed out on a channel still open, released when it closes. */
  private readonly keysHeldByChannel = new Map<ConfirmChannel, string[]>();
  private readonly headerTable = new ReusedHeaderTable();
  /** The publishes written to each open channel, by delivery tag (dropped when the channel closes). */
  private readonly windows = new Map<ConfirmChannel, ConfirmWindow<PendingPublish>>();
  /** Channels that nacked, retired (see the invariants), with how many pending publishes are still written to each. */
  private readonly retired = new Map<ConfirmChannel, number>();

  constructor(
    private readonly connections: ConnectionManager,
    private readonly maxUnconfirmed: number,
    private readonly confirmTimeoutMs: number,
    private readonly retryDelayMs: number,
    private readonly logger: Logger,
  ) {}

  /** The node in use (password hidden): log lines and errors name it. */
  private get url(): string {
    return this.connections.url;
  }

  publish(message: OutgoingMessage, target: PublishTarget): Promise<void> {
    if (this.closing) return Promise.reject(new ClosedError(`broker ${this.url}: transport is closed`));
    return new Promise<void>((resolve) => {
      const seq = ++this.seq;
      const key = message.messageId || message.correlationId || '';
      const claimedKey = key !== '' && !this.keysInFlight.has(key) ? key : null;
      if (claimedKey !== null) this.keysInFlight.add(claimedKey);
      const entry: PendingPublish = {
        seq,
        target,
        written: target,
        message,
        sentAt: wholeMs(performance.now()),
        resolve,
        channel: null,
        returned: null,
        channelFailures: 0,
        writeOrder: 0,
        claimedKey,
      };
      this.pending.add(seq, entry);
      this.backlog.push(entry);
      this.armTimer();
      this.pump();
    });
  }

  /** Stops accepting publishes, waits until every pending one is settled, closes the channel. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pending.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    const channel = this.channel;
    this.channel = null;
    if (channel) await closeQuietly(channel);
  }

  /** Writes the backlog to the channel (opening one if needed) until it is empty or amqplib's buffer is full. */
  private pump(): void {
    const channel = this.channel;
    if (!channel) {
      this.openChannel();
      return;
    }
    const window = this.windows.get(channel)!;
    while (!this.draining && this.unconfirmed < this.maxUnconfirmed && !this.backlog.isEmpty) {
      const entry = this.backlog.shift()!;
      if (!this.pending.has(entry.seq)) continue; // timed out while waiting
      let accepted: boolean;
      try {
        entry.written = entry.target.routeAtWrite?.() ?? entry.target;
        const problem = routeNameProblem(entry.written.exchange, entry.written.routingKey);
        if (problem !== null) {
          this.settle(
            entry,
            new PublishError(
              'unroutable',
              `broker ${this.url}: cannot publish to exchange '${truncateText(entry.written.exchange, 60)}' ` +
                `routing key '${truncateText(entry.written.routingKey, 60)}': ${problem}`,
            ),
          );
          continue;
        }
        entry.channel = channel;
        entry.writeOrder = ++this.writes;
        accepted = channel.publish(
          entry.written.exchange,
          entry.written.routingKey,
          entry.message.body,
          publishOptionsOf(entry, this.headerTable),
        );
        window.written(entry);
      } catch (error) {
        entry.channel = null;
        if (isChannelStateError(error)) {
          // The channel is closing under us; its 'close' handler re-sends what it held, and this one.
          this.backlog.unshift(entry);
          return;
        }
        // The message could not be encoded (e.g. amqplib's RangeError for a header table over
        // 64 KiB). amqplib encodes before it writes or queues the confirm callback, so the channel
        // and its confirm window are untouched: only this publish fails, and the others on the
        // channel are neither disturbed nor sent twice.
        this.settle(entry, error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      this.unconfirmed++;
      if (this.unflushed.length === 0) {
        // amqplib writes to the socket from a setImmediate it schedules in a nextTick after a
        // publish; one scheduled the same way runs right after that write.
        process.nextTick(() => setImmediate(() => this.markFlushed()));
      }
      this.unflushed.push(entry);
      if (!accepted) this.draining = true;
    }
  }

  private markFlushed(): void {
    const now = wholeMs(performance.now());
    for (const entry of this.unflushed) entry.sentAt = now;
    this.unflushed = [];
  }

  private openChannel(): void {
    if (this.opening || this.backlog.isEmpty) return;
    this.opening = true;
    void (async () => {
      try {
        const connection = await this.connections.acquire();
        const channel = await connection.createConfirmChannel();
        this.windows.set(channel, new ConfirmWindow());
        this.watch(channel);
        this.channel = channel;
        this.draining = false;
      } catch (error) {
        if (error instanceof BrokerConnectionError || error instanceof ClosedError) {
          // The connection manager gave up: nothing in the backlog was written anywhere.
          for (const entry of this.takeBacklog()) this.settle(entry, error);
        } else {
          this.logger.warn(`broker ${this.url}: opening a publish channel failed: ${describeError(error)}`);
          await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs));
        }
      } finally {
        this.opening = false;
      }
      this.pump();
    })();
  }

  private watch(channel: ConfirmChannel): void {
    let channelError: unknown = null;
    channel.on('error', (error: unknown) => {
      channelError = error;
    });
    // Prepended so it runs before amqplib fails the channel's confirm callbacks with 'channel closed'.
    channel.prependListener('close', () => this.onChannelClosed(channel, channelError));
    channel.on('return', (message: Message) => this.onReturn(channel, message));
    const window = this.windows.get(channel)!;
    channel.on('ack', ({ deliveryTag, multiple }: ConfirmFields) =>
      window.confirm(deliveryTag, multiple, (entry) => this.onConfirm(entry, channel, null)),
    );
    channel.on('nack', ({ deliveryTag, multiple }: ConfirmFields) =>
      window.confirm(deliveryTag, multiple, (entry) => this.onConfirm(entry, channel, NACKED)),
    );
    channel.on('drain', () => {
      if (this.channel !== channel) return;
      this.draining = false;
      this.pump();
    });
  }

  private onConfirm(entry: PendingPublish, channel: ConfirmChannel, error: unknown): void {
    if (entry.channel !== channel || !this.pending.has(entry.seq)) return; // stale: re-sent elsewhere or timed out
    const now = (this.lastProgress = performance.now());
    if (error) {
      entry.firstNackAt ??= now;
      if (this.closing || now - entry.firstNackAt >= this.confirmTimeoutMs) {
        this.settle(entry, new PublishError('nacked', `broker ${this.url} nacked the publish to ${whereWritten(entry)}`));
      } else this.writeAgainLater(entry);
    } else if (entry.returned !== null) {
      this.settle(entry, new PublishError('unroutable', `unroutable publish to ${whereWritten(entry)} (${entry.returned})`));
    } else this.settle(entry);
    if (!this.backlog.isEmpty) this.pump(); // the window has room again
  }

  /** A nacked publish (see the invariants), written again ahead of the backlog after a pause, on another channel. */
  private writeAgainLater(entry: PendingPublish): void {
    const channel = entry.channel!;
    if (channel === this.channel) {
      this.channel = null;
      this.draining = false;
      this.unconfirmed = 0;
      this.retired.set(channel, [...this.pending.values()].filter((e) => e.channel === channel).length);
    }
    entry.channel = null;
    entry.returned = null;
    this.leftChannel(channel);
    setTimeout(() => {
      if (!this.pending.has(entry.seq)) return; // timed out meanwhile
      this.backlog.unshift(entry);
      this.pump();
    }, this.retryDelayMs);
  }

  private onReturn(channel: ConfirmChannel, message: Message): void {
    // Found by a scan from the oldest pending publish instead of an index kept up on every
    // publish for an event only a misrouted publish causes. The broker returns a publish just
    // before confirming it, so a run of returned publishes settles from the front of the scan.
    const key = returnKeyOf(message.properties);
    const entry = this.pending.find(
      (candidate) => candidate.channel === channel && !candidate.returned && returnKeyOfPending(candidate) === key,
    );
    const fields = message.fields as unknown as { replyCode?: number; replyText?: string };
    if (entry) entry.returned = `${fields.replyCode ?? 312} ${fields.replyText ?? 'NO_ROUTE'}`;
  }

  /** The channel is gone (connection lost, or the broker closed it): see closed-channel.ts for what becomes of its publishes. */
  private onChannelClosed(channel: ConfirmChannel, channelError: unknown): void {
    for (const key of this.keysHeldByChannel.get(channel) ?? []) this.keysInFlight.delete(key);
    this.keysHeldByChannel.delete(channel);
    this.windows.delete(channel);
    this.retired.delete(channel);
    if (this.channel === channel) {
      this.channel = null;
      this.draining = false;
      this.unconfirmed = 0;
    }
    const onChannel = [...this.pending.values()].filter((entry) => entry.channel === channel);
    const fates = fatesOfClosedChannel(onChannel, channelError, this.closing, this.url);
    for (const [entry, error] of fates.settled) this.settle(entry, error);
    if (fates.brokerReason !== null) this.logger.warn(`broker ${this.url} closed the publish channel: ${fates.brokerReason}`);
    const waiting = this.takeBacklog();
    if (this.closing) {
      // Nothing is sent on a new connection once closing began.
      for (const entry of waiting) this.settle(entry, new PublishError('closed', `broker ${this.url}: connection lost while closing`));
      return;
    }
    this.backlog.reset([...fates.resend, ...waiting]);
    if (!this.backlog.isEmpty) setImmediate(() => this.pump()); // after the connection's own 'close'
  }

  private takeBacklog(): PendingPublish[] {
    return this.backlog.takeAll().filter((entry) => this.pending.has(entry.seq));
  }

  /**
   * Resolves or rejects a pending publish, once. `timedOut`: the broker has not answered it, and
   * may yet on the channel it was written to, so its key stays claimed until that channel closes.
   */
  private settle(entry: PendingPublish, error?: Error, timedOut = false): void {
    if (!this.pending.delete(entry.seq)) return;
    if (entry.claimedKey !== null) {
      const channel = timedOut ? entry.channel : null;
      if (channel === null) this.keysInFlight.delete(entry.claimedKey);
      else if (this.keysHeldByChannel.has(channel)) this.keysHeldByChannel.get(channel)!.push(entry.claimedKey);
      else this.keysHeldByChannel.set(channel, [entry.claimedKey]);
    }
    if (entry.channel !== null && entry.channel === this.channel) this.unconfirmed--;
    else if (entry.channel !== null) this.leftChannel(entry.channel);
    // A rejected promise as the resolution rejects it (see PendingPublish.resolve).
    entry.resolve(error ? Promise.reject(error) : undefined);
    if (this.pending.size > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.idle?.();
    this.idle = null;
  }

  /** A pending publish left `channel`: a retired channel is closed once none is left on it. */
  private leftChannel(channel: ConfirmChannel): void {
    const left = this.retired.get(channel);
    if (left === undefined) return;
    if (left > 1) this.retired.set(channel, left - 1);
    else {
      this.retired.delete(channel);
      void closeQuietly(channel);
    }
  }

  /** When `entry` times out if the broker confirms nothing more. */
  private deadlineOf(entry: PendingPublish): number {
    return Math.max(entry.sentAt, this.lastProgress) + this.confirmTimeoutMs;
  }

  /** One timer, for the oldest pending publish; when it fires every expired publish rejects. */
  private armTimer(): void {
    if (this.timer) return;
    const oldest = this.pending.oldest();
    if (oldest === undefined) return;
    // Decided after the event loop's poll phase (setImmediate): confirms that arrived while
    // this process was busy (e.g. sending a bulk of publishes) are counted before anything expires.
    this.timer = setTimeout(() => setImmediate(() => this.expire()), Math.max(0, this.deadlineOf(oldest) - performance.now()) + 1);
  }

  private expire(): void {
    this.timer = null;
    const now = performance.now();
    for (let entry = this.pending.oldest(); entry !== undefined && this.deadlineOf(entry) <= now; entry = this.pending.oldest()) {
      this.settle(
        entry,
        new PublishError(
          'confirm-timeout',
          `broker ${this.url} did not confirm the publish to ${whereWritten(entry)}: nothing confirmed for ${this.confirmTimeoutMs} ms`,
        ),
        true,
      );
    }
    this.armTimer();
    if (!this.backlog.isEmpty) this.pump(); // expired publishes freed the window
  }
}
