import type { GetMessage } from 'amqplib';
import { ClosedError } from '../../errors/errors.js';
import type { Delivery } from '../transport.js';
import type { ConnectionManager } from './connection.js';
import { AmqpDelivery, type Lane } from './delivery.js';

/** AMQP's largest prefetch (basic.qos prefetch-count is 16 bits); also the most one getMany takes. */
const MAX_PREFETCH = 65_535;
/** While getMany takes: how long it waits for more deliveries before checking the queue's ready count. */
const TAKE_CHECK_MS = 5;

/** The lanes' bookkeeping, kept by the consumers: the transport's close() closes every lane, takes' too. */
export interface LaneHost {
  /** True once the transport is closing: no new take starts. */
  readonly closing: boolean;
  /** A lane for a channel just opened; its owner makes its 'close' handler call laneClosed. */
  addLane(channel: Lane['channel']): Lane;
  /** The lane's channel closed: it settles nothing more. */
  laneClosed(lane: Lane): void;
  /** Closes the lane's channel after flushing its queued acks; resolves once closed (never rejects). */
  closeLane(lane: Lane): Promise<void>;
}

/**
 * The lane basic.get runs on, with the gets it has not answered yet. Invariant: `unanswered`
 * holds the rejecter of every get whose reply has not arrived; the lane's one 'close' listener
 * calls them all (a listener per concurrent get would pile up on the channel: Node warns past 10).
 */
interface GetterLane {
  readonly lane: Lane;
  readonly unanswered: Set<() => void>;
}

/**
 * Messages taken without a standing consumer: basic.get, and getMany's short-lived consumer.
 * Each delivery stays unsettled (invisible to other consumers) until acked or rejected on the
 * channel it came from; if that channel closes first, the broker returns it to its queue.
 */
export class Takes {
  /** The channel basic.get runs on (opened on first use, replaced when it closes). */
  private getter: Promise<GetterLane> | null = null;

  constructor(
    private readonly connections: ConnectionManager,
    private readonly lanes: LaneHost,
    /** True for a queue whose deliveries' x-delivery-count is the broker's (a quorum queue this transport declared). */
    private readonly countsDeliveries: (queue: string) => boolean,
  ) {}

  /** The node in use (password hidden): log lines and errors name it. */
  private get url(): string {
    return this.connections.url;
  }

  /** basic.get with acknowledgement; the delivery settles on the getter channel it came from. */
  async get(queue: string): Promise<Delivery | null> {
    if (this.lanes.closing) throw new ClosedError(`broker ${this.url}: transport is closed`);
    const getter = await this.getterLane();
    const { lane } = getter;
    // amqplib leaves a basic.get unanswered when the connection dies under it (e.g. a frame over
    // maxFrameSize): the lane's close settles it instead.
    const message = await this.getOrClosed(getter, queue);
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
    if (this.lanes.closing) throw new ClosedError(`broker ${this.url}: transport is closed`);
    const limit = Math.min(Math.floor(max), MAX_PREFETCH);
    if (!(limit >= 1)) return [];
    const connection = await this.connections.acquire();
    const channel = await connection.createChannel();
    const lane = this.lanes.addLane(channel);
    let channelError: unknown = null;
    channel.on('error', (error: unknown) => {
      channelError = error;
    });
    channel.on('close', () => {
      this.lanes.laneClosed(lane);
    });
    let taking = true;
    const closeWhenSettled = () => {
      if (!taking && lane.unsettled === 0) void this.lanes.closeLane(lane);
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
      void this.lanes.closeLane(lane); // what was taken goes back to the queue
      throw channelError ?? error;
    } finally {
      taking = false;
    }
    if (!lane.open) throw new ClosedError(`broker ${this.url}: the channel closed while taking from ${queue}`);
    closeWhenSettled();
    return taken;
  }

  /** basic.get on the getter lane, or ClosedError once its channel closes first; leaves nothing behind on the lane. */
  private async getOrClosed({ lane, unanswered }: GetterLane, queue: string): Promise<GetMessage | false> {
    const error = () => new ClosedError(`broker ${this.url}: the channel closed before the get from ${queue} was answered`);
    if (!lane.open) throw error();
    let onClose = (): void => undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(error());
    });
    unanswered.add(onClose);
    try {
      return await Promise.race([lane.channel.get(queue, { noAck: false }), closed]);
    } finally {
      unanswered.delete(onClose);
    }
  }

  private getterLane(): Promise<GetterLane> {
    if (this.getter) return this.getter;
    const opening = (async (): Promise<GetterLane> => {
      const connection = await this.connections.acquire();
      const channel = await connection.createChannel();
      const getter: GetterLane = { lane: this.lanes.addLane(channel), unanswered: new Set() };
      // A refused get (404 no queue) closes the channel; the next get opens a new one.
      channel.on('error', () => undefined);
      channel.on('close', () => {
        this.lanes.laneClosed(getter.lane);
        if (this.getter === opening) this.getter = null;
        for (const onClose of [...getter.unanswered]) onClose();
      });
      return getter;
    })();
    this.getter = opening;
    opening.catch(() => {
      if (this.getter === opening) this.getter = null;
    });
    return opening;
  }
}
