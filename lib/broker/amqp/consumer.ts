import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'winston';
import { ClosedError, ConfigError, TransportError } from '../../errors/errors.js';
import type { ConsumeOptions, ConsumerHandle, DeliveryHandler } from '../transport.js';
import { closeQuietly, describeError, fullJitterBackoff, type ConnectionManager } from './connection.js';
import { AckBatcher } from './ack-batcher.js';
import { AmqpDelivery, type Lane } from './delivery.js';
import type { LaneHost } from './takes.js';

/** What consumers need to know of the queues they consume (the transport's Topology). */
export interface ConsumedQueues {
  /** True for a queue whose deliveries' x-delivery-count is the broker's (a quorum queue this transport declared). */
  countsDeliveries(queue: string): boolean;
  /**
   * Makes sure `queue` is there to be consumed again: declares it again when this transport
   * declared it, else checks that it exists. Resolves false when it does not (and is not ours
   * to declare); rejects when the broker refuses.
   */
  restoreQueue(queue: string): Promise<boolean>;
}

/** Backoff of a consumer's retries (a broker cancel, a channel the broker closed): first and largest delay, ms. */
export interface ConsumerBackoff {
  initialMs: number;
  maxMs: number;
}

interface ConsumerState {
  readonly queues: string[];
  readonly prefetch: number;
  readonly handler: DeliveryHandler;
  cancelled: boolean;
  /** The lane currently consuming; null while the connection is down or a reopen is pending. */
  lane: Lane | null;
  /** The open in progress; concurrent opens (consume, reconnect hook, channel reopen) join it. */
  opening: Promise<void> | null;
}

/**
 * Every consumer of the transport, each on its own channel of the consuming connection with
 * basic.qos(prefetch, global=false), i.e. at most `prefetch` unsettled per queue consumed.
 *
 * Invariants:
 * - a consumer that is not cancelled has an open lane, or is being reopened: by the connection
 *   manager's connected hook after a reconnect, or after a pause (with backoff, until it
 *   succeeds) when the broker closed only its channel;
 * - a queue whose consumer the broker cancelled (basic.cancel: the queue was deleted, a quorum
 *   queue's leader moved, a node holding it went down; whatever the cause) is consumed again on
 *   the same channel, after a pause with backoff, until that succeeds: re-declared first if this
 *   transport declared it. The channel stays open meanwhile, so deliveries in flight on it keep
 *   their delivery tags and are acked there once, as if nothing had happened;
 * - a cancelled consumer's channel stays open while it has unsettled deliveries (they stay
 *   settle-able), then closes; deliveries that race the cancel are requeued, not handed out;
 * - `close()` closes every lane; unsettled deliveries go back to their queues.
 */
export class Consumers implements LaneHost {
  private readonly active = new Set<ConsumerState>();
  private readonly lanes = new Set<Lane>();
  /** Channel closes in progress (close() waits for them). */
  private readonly closingLanes = new Set<Promise<void>>();
  /** True once close() began (read by Takes, which shares the lanes). */
  closing = false;

  constructor(
    private readonly connections: ConnectionManager,
    private readonly queues: ConsumedQueues,
    private readonly backoff: ConsumerBackoff,
    private readonly logger: Logger,
  ) {}

  /** The node in use (password hidden): log lines and errors name it. */
  private get url(): string {
    return this.connections.url;
  }

  async consume(queues: string[], options: ConsumeOptions, handler: DeliveryHandler): Promise<ConsumerHandle> {
    if (this.closing) throw new ClosedError(`broker ${this.url}: transport is closed`);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 65535) {
      throw new ConfigError('prefetch', `must be an integer in 1..65535, got ${options.prefetch}`);
    }
    const state: ConsumerState = {
      queues: [...queues],
      prefetch: options.prefetch,
      handler,
      cancelled: false,
      lane: null,
      opening: null,
    };
    this.active.add(state);
    try {
      for (let attempt = 1; !state.lane && !state.cancelled; attempt++) {
        const connection = await this.connections.acquire();
        try {
          await this.open(state, connection);
        } catch (error) {
          // A lost connection is retried (the reconnect hook may also reopen us); a refusal is not.
          if (this.connections.connection === connection || attempt >= 3) throw error;
        }
      }
      if (state.cancelled) throw new ClosedError(`broker ${this.url}: transport is closed`);
    } catch (error) {
      this.active.delete(state);
      state.cancelled = true;
      throw error;
    }
    return { cancel: () => this.cancel(state) };
  }

  /**
   * The connected hook's half: reopens each consumer not cancelled once `ready` says its queues
   * are declared again, side by side; one that fails is reopened later, with backoff.
   */
  async resume(connection: ChannelModel, ready: (queues: readonly string[]) => Promise<void>): Promise<void> {
    const reopen = async (state: ConsumerState): Promise<void> => {
      await ready(state.queues);
      await this.open(state, connection);
    };
    await Promise.all(
      [...this.active].map((state) =>
        reopen(state).catch((error: unknown) => {
          this.logger.error(`broker ${this.url}: resuming consumer of ${state.queues.join(', ')} failed: ${describeError(error)}`);
          this.reopenLater(state, 1);
        }),
      ),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const state of [...this.active]) await this.cancel(state);
    for (const lane of [...this.lanes]) void this.closeLane(lane);
    // Awaited, including closes begun by cancel(): a channel's close-ok comes after the broker
    // processed its queued acks, so none is lost to the connection closing right after.
    await Promise.all(this.closingLanes);
  }

  /** `restore`: make sure every queue is there first (ConsumedQueues.restoreQueue), as after a broker refusal. */
  private open(state: ConsumerState, connection: ChannelModel, restore = false): Promise<void> {
    if (state.cancelled || state.lane?.open) return Promise.resolve();
    state.opening ??= this.openLane(state, connection, restore).finally(() => {
      state.opening = null;
    });
    return state.opening;
  }

  private async openLane(state: ConsumerState, connection: ChannelModel, restore: boolean): Promise<void> {
    let lane: Lane | null = null;
    try {
      // Before the channel: a consume of a missing queue would close it (404).
      if (restore) for (const queue of state.queues) await this.restoreQueue(queue);
      const channel = await connection.createChannel();
      lane = this.addLane(channel);
      const opened = lane;
      let channelError: unknown = null;
      channel.on('error', (error: unknown) => {
        channelError = error;
      });
      channel.on('close', () => this.onLaneClosed(state, opened, channelError));
      await channel.prefetch(state.prefetch, false);
      for (const queue of state.queues) {
        const { consumerTag } = await channel.consume(queue, (message) => this.onMessage(state, opened, queue, message));
        opened.tags.set(queue, consumerTag);
      }
      if (state.cancelled) void this.closeLane(opened);
      else state.lane = opened;
    } catch (error) {
      if (lane) void this.closeLane(lane);
      throw error;
    }
  }

  private onMessage(state: ConsumerState, lane: Lane, queue: string, message: ConsumeMessage | null): void {
    if (message === null) {
      this.onBrokerCancel(state, lane, queue);
      return;
    }
    lane.acks.delivered(message);
    lane.unsettled += 1;
    const delivery = new AmqpDelivery(lane, message, queue, this.queues.countsDeliveries(queue), (settledLane) =>
      this.onSettled(state, settledLane),
    );
    if (state.cancelled) {
      delivery.reject(true);
      return;
    }
    try {
      state.handler(delivery);
    } catch (error) {
      this.logger.error(`delivery handler for queue ${queue} threw: ${describeError(error)}`);
    }
  }

  private onSettled(state: ConsumerState, lane: Lane): void {
    if (state.cancelled && lane.unsettled === 0) void this.closeLane(lane);
  }

  private async cancel(state: ConsumerState): Promise<void> {
    if (state.cancelled) return;
    state.cancelled = true;
    this.active.delete(state);
    const lane = state.lane;
    if (!lane) return;
    for (const tag of lane.tags.values()) await lane.channel.cancel(tag).catch(() => undefined);
    if (lane.unsettled === 0) void this.closeLane(lane);
  }

  /** A lane for a channel just opened; its owner makes its 'close' handler call laneClosed. */
  addLane(channel: Channel): Lane {
    const lane: Lane = { channel, acks: new AckBatcher(channel), open: true, unsettled: 0, tags: new Map() };
    this.lanes.add(lane);
    return lane;
  }

  laneClosed(lane: Lane): void {
    lane.open = false;
    this.lanes.delete(lane);
  }

  /** Resolves once the channel is closed (never rejects). */
  closeLane(lane: Lane): Promise<void> {
    if (!lane.open) return Promise.resolve();
    // Queued acks go out before the close: a delivery settled here is not redelivered.
    lane.acks.flush();
    lane.open = false;
    this.lanes.delete(lane);
    const closing = closeQuietly(lane.channel);
    this.closingLanes.add(closing);
    void closing.then(() => this.closingLanes.delete(closing));
    return closing;
  }

  private onLaneClosed(state: ConsumerState, lane: Lane, channelError: unknown): void {
    const unexpected = lane.open;
    lane.open = false;
    this.lanes.delete(lane);
    if (state.lane === lane) state.lane = null;
    if (!unexpected || state.cancelled || this.closing) return;
    if (channelError) {
      this.logger.error(`broker ${this.url} closed the consumer channel of ${state.queues.join(', ')}: ${describeError(channelError)}`);
    }
    // If the whole connection is gone, the reconnect hook reopens the consumer. If only this
    // channel was closed (e.g. consumer_timeout, a consume of a queue deleted meanwhile), reopen it here.
    this.reopenLater(state, 1);
  }

  /**
   * Reopens the consumer on the current connection after a pause (the `attempt`-th backoff),
   * its queues restored first, and again with a longer pause until it succeeds. Gives up only
   * when the consumer is cancelled or the transport closes; while the connection is down, the
   * reconnect hook's resume() reopens it instead.
   */
  private reopenLater(state: ConsumerState, attempt: number): void {
    setTimeout(() => {
      const connection = this.connections.connection;
      if (!connection || state.cancelled || this.closing || state.lane?.open) return;
      this.open(state, connection, true).catch((error: unknown) => {
        if (state.cancelled || this.closing || this.connections.connection !== connection) return;
        this.logger.error(`broker ${this.url}: reopening consumer of ${state.queues.join(', ')} failed: ${describeError(error)}`);
        this.reopenLater(state, attempt + 1);
      });
    }, this.pause(attempt)).unref();
  }

  /**
   * The broker cancelled the consumer of `queue` on this lane (basic.cancel, for any reason).
   * The lane stays open (closing it would return its deliveries in flight, to run again); the
   * queue is consumed again on it once it is there (see consumeAgain).
   */
  private onBrokerCancel(state: ConsumerState, lane: Lane, queue: string): void {
    lane.tags.delete(queue);
    if (state.cancelled || this.closing || !lane.open) return;
    this.logger.warn(
      `broker ${this.url} cancelled the consumer of queue ${queue} (the queue was deleted, or moved to another node); ` +
        `${lane.unsettled} deliveries in flight stay on their channel; consuming ${queue} again`,
    );
    this.consumeAgain(state, lane, queue, 1);
  }

  /** After a pause (the `attempt`-th backoff): restores `queue` and consumes it on `lane` again; retried until done or moot. */
  private consumeAgain(state: ConsumerState, lane: Lane, queue: string, attempt: number): void {
    // A closed lane is replaced by a new one, which consumes every queue of the consumer.
    const moot = () => state.cancelled || this.closing || !lane.open || lane.tags.has(queue);
    setTimeout(() => {
      if (moot()) return;
      void (async () => {
        try {
          await this.restoreQueue(queue);
          if (moot()) return;
          const { consumerTag } = await lane.channel.consume(queue, (message) => this.onMessage(state, lane, queue, message));
          lane.tags.set(queue, consumerTag);
          if (state.cancelled) await lane.channel.cancel(consumerTag).catch(() => undefined);
          else this.logger.info(`broker ${this.url}: consuming queue ${queue} again (attempt ${attempt})`);
        } catch (error) {
          if (moot()) return; // the lane closed under it: its reopen takes over
          this.logger.warn(`broker ${this.url}: consuming queue ${queue} again failed (attempt ${attempt}): ${describeError(error)}`);
          this.consumeAgain(state, lane, queue, attempt + 1);
        }
      })();
    }, this.pause(attempt)).unref();
  }

  /** Resolves once `queue` is there to consume; rejects (not-found) when it is missing and not ours to declare. */
  private async restoreQueue(queue: string): Promise<void> {
    if (!(await this.queues.restoreQueue(queue))) {
      throw new TransportError('not-found', `broker ${this.url}: queue ${queue} does not exist, and this process did not declare it`);
    }
  }

  /** The pause before the `attempt`-th retry: exponential from backoff.initialMs up to backoff.maxMs, with full jitter. */
  private pause(attempt: number): number {
    return fullJitterBackoff(attempt, this.backoff.initialMs, this.backoff.maxMs);
  }
}
