import type { Channel, ChannelModel, ConsumeMessage, GetMessage } from 'amqplib';
import type { Logger } from 'winston';
import { ClosedError, ConfigError } from '../../errors/errors.js';
import type { ConsumeOptions, ConsumerHandle, DeadLetterRecord, Delivery, DeliveryHandler, MessageProperties } from '../transport.js';
import { splitBrokerHeaders } from './broker-headers.js';
import { closeQuietly, describeError, type ConnectionManager } from './connection.js';
import { AckBatcher } from './ack-batcher.js';
import { fromAmqpProperties } from './properties.js';

/** AMQP's largest prefetch (basic.qos prefetch-count is 16 bits); also the most one getMany takes. */
const MAX_PREFETCH = 65_535;
/** While getMany takes: how long it waits for more deliveries before checking the queue's ready count. */
const TAKE_CHECK_MS = 5;

/**
 * One channel of one consumer. `open` turns false exactly once, when the channel closes, and
 * no delivery of the lane settles after that: its delivery tags mean nothing on any other
 * channel, and acking them there would make RabbitMQ close it (406 unknown delivery tag).
 */
interface Lane {
  readonly channel: Channel;
  /** Acks go out batched (see AckBatcher); every delivery of the channel is registered with it. */
  readonly acks: AckBatcher;
  open: boolean;
  unsettled: number;
  readonly tags: string[];
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

class AmqpDelivery implements Delivery {
  readonly body: Buffer;
  readonly properties: MessageProperties;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly deliveryCount: number | undefined;
  readonly deadLetter: DeadLetterRecord | undefined;
  private settled = false;

  /** `countsDeliveries`: the queue is one this transport declared a quorum queue (see splitBrokerHeaders). */
  constructor(
    private readonly lane: Lane,
    private readonly message: ConsumeMessage | GetMessage,
    readonly queue: string,
    countsDeliveries: boolean,
    private readonly onSettled: (lane: Lane) => void,
  ) {
    this.body = message.content;
    this.properties = fromAmqpProperties(message.properties);
    const broker = splitBrokerHeaders(this.properties.headers, countsDeliveries);
    this.properties.headers = broker.headers;
    this.deliveryCount = broker.deliveryCount;
    this.deadLetter = broker.deadLetter;
    this.exchange = message.fields.exchange;
    this.routingKey = message.fields.routingKey;
    this.redelivered = message.fields.redelivered;
  }

  ack(): boolean {
    return this.settle((acks) => acks.ack(this.message));
  }

  reject(requeue: boolean): boolean {
    return this.settle((acks) => acks.reject(this.message, requeue));
  }

  private settle(send: (acks: AckBatcher) => void): boolean {
    if (this.settled || !this.lane.open) return false;
    this.settled = true;
    this.lane.unsettled -= 1;
    try {
      send(this.lane.acks);
    } catch {
      // The channel is closing: the broker requeues the message, so this settle did not count.
      return false;
    } finally {
      this.onSettled(this.lane);
    }
    return true;
  }
}

/**
 * Every consumer of the transport, each on its own channel of the consuming connection with
 * basic.qos(prefetch, global=false), i.e. at most `prefetch` unsettled per queue consumed.
 *
 * Invariants:
 * - a consumer that is not cancelled has an open lane, or is being reopened: by the connection
 *   manager's connected hook after a reconnect, or after a pause when the broker closed only
 *   its channel;
 * - a cancelled consumer's channel stays open while it has unsettled deliveries (they stay
 *   settle-able), then closes; deliveries that race the cancel are requeued, not handed out;
 * - `close()` closes every lane; unsettled deliveries go back to their queues.
 */
export class Consumers {
  private readonly active = new Set<ConsumerState>();
  private readonly lanes = new Set<Lane>();
  /** Channel closes in progress (close() waits for them). */
  private readonly closingLanes = new Set<Promise<void>>();
  /** The channel basic.get runs on (opened on first use, replaced when it closes). */
  private getter: Promise<Lane> | null = null;
  private closing = false;

  constructor(
    private readonly connections: ConnectionManager,
    /** True for a queue whose deliveries' x-delivery-count is the broker's (a quorum queue this transport declared). */
    private readonly countsDeliveries: (queue: string) => boolean,
    private readonly retryDelayMs: number,
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

  /** basic.get with acknowledgement; the delivery settles on the getter channel it came from. */
  async get(queue: string): Promise<Delivery | null> {
    if (this.closing) throw new ClosedError(`broker ${this.url}: transport is closed`);
    const lane = await this.getterLane();
    // amqplib leaves a basic.get unanswered when the connection dies under it (e.g. a frame over
    // maxFrameSize): the lane's close settles it instead.
    const message = await this.getOrClosed(lane, queue);
    if (message === false) return null;
    lane.acks.delivered(message);
    lane.unsettled += 1;
    return new AmqpDelivery(lane, message, queue, this.countsDeliveries(queue), () => undefined);
  }

  /**
   * Up to `max` ready messages (at most MAX_PREFETCH) through a consumer on a channel of their
   * own, with prefetch `max`, so the broker streams them instead of answering one basic.get
   * each. The take ends when `max` arrived or the queue shows no ready message (what the broker
   * already sent arrives before its cancel-ok, so nothing is left in flight). The channel stays
   * open while any of the batch is unsettled, then closes.
   */
  async getMany(queue: string, max: number): Promise<Delivery[]> {
    if (this.closing) throw new ClosedError(`broker ${this.url}: transport is closed`);
    const limit = Math.min(Math.floor(max), MAX_PREFETCH);
    if (!(limit >= 1)) return [];
    const connection = await this.connections.acquire();
    const channel = await connection.createChannel();
    const lane = this.addLane(channel);
    let channelError: unknown = null;
    channel.on('error', (error: unknown) => {
      channelError = error;
    });
    channel.on('close', () => {
      lane.open = false;
      this.lanes.delete(lane);
    });
    let taking = true;
    const closeWhenSettled = () => {
      if (!taking && lane.unsettled === 0) void this.closeLane(lane);
    };
    const taken: Delivery[] = [];
    let arrived: () => void = () => undefined;
    try {
      await channel.prefetch(limit, false);
      const { consumerTag } = await channel.consume(queue, (message) => {
        if (message === null) return; // cancelled by the broker (queue deleted): the ready check ends the take
        lane.acks.delivered(message);
        lane.unsettled += 1;
        taken.push(new AmqpDelivery(lane, message, queue, this.countsDeliveries(queue), closeWhenSettled));
        if (taken.length >= limit) arrived();
      });
      while (taken.length < limit) {
        await new Promise<void>((resolve) => {
          const check = setTimeout(resolve, TAKE_CHECK_MS);
          arrived = () => {
            clearTimeout(check);
            resolve();
          };
        });
        if (taken.length >= limit || (await channel.checkQueue(queue)).messageCount === 0) break;
      }
      await channel.cancel(consumerTag);
    } catch (error) {
      void this.closeLane(lane); // what was taken goes back to the queue
      throw channelError ?? error;
    } finally {
      taking = false;
    }
    if (!lane.open) throw new ClosedError(`broker ${this.url}: the channel closed while taking from ${queue}`);
    closeWhenSettled();
    return taken;
  }

  /** basic.get on the lane, or ClosedError once its channel closes first; leaves no listener behind. */
  private async getOrClosed(lane: Lane, queue: string): Promise<GetMessage | false> {
    const error = () => new ClosedError(`broker ${this.url}: the channel closed before the get from ${queue} was answered`);
    if (!lane.open) throw error();
    let onClose = (): void => undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(error());
      lane.channel.once('close', onClose);
    });
    try {
      return await Promise.race([lane.channel.get(queue, { noAck: false }), closed]);
    } finally {
      lane.channel.removeListener('close', onClose);
    }
  }

  private getterLane(): Promise<Lane> {
    if (this.getter) return this.getter;
    const opening = (async () => {
      const connection = await this.connections.acquire();
      const channel = await connection.createChannel();
      const lane = this.addLane(channel);
      // A refused get (404 no queue) closes the channel; the next get opens a new one.
      channel.on('error', () => undefined);
      channel.on('close', () => {
        lane.open = false;
        this.lanes.delete(lane);
        if (this.getter === opening) this.getter = null;
      });
      return lane;
    })();
    this.getter = opening;
    opening.catch(() => {
      if (this.getter === opening) this.getter = null;
    });
    return opening;
  }

  /** The connected hook's half: reopens each consumer not cancelled once `ready` says its queues are declared again, side by side. */
  async resume(connection: ChannelModel, ready: (queues: readonly string[]) => Promise<void>): Promise<void> {
    const reopen = async (state: ConsumerState): Promise<void> => {
      await ready(state.queues);
      await this.open(state, connection);
    };
    await Promise.all(
      [...this.active].map((state) =>
        reopen(state).catch((error: unknown) => {
          this.logger.error(`broker ${this.url}: resuming consumer of ${state.queues.join(', ')} failed: ${describeError(error)}`);
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

  private open(state: ConsumerState, connection: ChannelModel): Promise<void> {
    if (state.cancelled || state.lane?.open) return Promise.resolve();
    state.opening ??= this.openLane(state, connection).finally(() => {
      state.opening = null;
    });
    return state.opening;
  }

  private async openLane(state: ConsumerState, connection: ChannelModel): Promise<void> {
    let lane: Lane | null = null;
    try {
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
        opened.tags.push(consumerTag);
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
      this.logger.warn(`broker ${this.url} cancelled the consumer of queue ${queue} (queue deleted?)`);
      return;
    }
    lane.acks.delivered(message);
    lane.unsettled += 1;
    const delivery = new AmqpDelivery(lane, message, queue, this.countsDeliveries(queue), (settledLane) =>
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
    for (const tag of lane.tags) await lane.channel.cancel(tag).catch(() => undefined);
    if (lane.unsettled === 0) void this.closeLane(lane);
  }

  /** A lane for a channel just opened; its owner makes its 'close' handler clear `open`. */
  private addLane(channel: Channel): Lane {
    const lane: Lane = { channel, acks: new AckBatcher(channel), open: true, unsettled: 0, tags: [] };
    this.lanes.add(lane);
    return lane;
  }

  /** Resolves once the channel is closed (never rejects). */
  private closeLane(lane: Lane): Promise<void> {
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
    // channel was closed (e.g. consumer_timeout), reopen it here after a pause.
    setTimeout(() => {
      const connection = this.connections.connection;
      if (!connection || state.cancelled || this.closing) return;
      this.open(state, connection).catch((error: unknown) => {
        this.logger.error(`broker ${this.url}: reopening consumer of ${state.queues.join(', ')} failed: ${describeError(error)}`);
      });
    }, this.retryDelayMs).unref();
  }
}
