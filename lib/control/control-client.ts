import type { App } from '../app/app.js';
import { ConfigError, PublishError } from '../errors/errors.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import type { ControlRequest } from './control-request.js';
import { decodeBody, encodeJson, LamportClock } from '../protocol/broadcast-message.js';
import { CONTROL_EXCHANGE, REPLY_EXCHANGE, replyQueue, type ControlReply } from './mailbox.js';
import { REVOKE_EXPIRES_MS, revocationStore } from './revocations.js';
import { newId } from '../util/ids.js';

export interface BroadcastOptions {
  /** Node names (e.g. 'celeriac@host'); default every node. */
  destination?: string[];
  /** Wait for replies. Default true. */
  reply?: boolean;
  /** How long to collect replies. Default '1s' (Celery's). */
  timeout?: Duration;
  /** Stop collecting after this many replies. Default: the number of destinations, else none. */
  limit?: number;
}

export const INSPECT_METHODS = [
  'ping',
  'active',
  'reserved',
  'scheduled',
  'registered',
  'stats',
  'active_queues',
  'revoked',
  'conf',
  'clock',
  'memsample',
  'memdump',
] as const;
export type InspectMethod = (typeof INSPECT_METHODS)[number];

/**
 * The client end of Celery's mailbox (see mailbox.ts): broadcasts a method to every worker —
 * Python Celery workers included — or to the named ones, and collects the replies that carry
 * its ticket until the timeout or the limit. Replies come back as Celery's list of
 * `{<node name>: <result>}`.
 */
export class ControlClient {
  readonly #clock = new LamportClock();
  /** This client's id: the routing key of its replies. */
  readonly oid = newId();

  constructor(readonly app: App) {}

  async broadcast(method: string, args: Record<string, unknown> = {}, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    const transport = this.app.transport;
    const wantReply = options.reply ?? true;
    const timeoutMs = toMilliseconds(options.timeout ?? '1s', 'timeout');
    const destination = options.destination?.length ? options.destination : null;
    const limit = options.limit ?? (destination ? destination.length : Infinity);
    const ticket = wantReply ? newId() : undefined;
    const request: ControlRequest = { method, arguments: args, destination, pattern: null, matcher: null };
    if (ticket) {
      request.ticket = ticket;
      request.reply_to = { exchange: REPLY_EXCHANGE, routing_key: this.oid };
    }
    await transport.declareExchange({ name: CONTROL_EXCHANGE, type: 'fanout', durable: false });
    const replies: ControlReply[] = [];
    let finish = (): void => {};
    const collected = new Promise<void>((resolve) => (finish = resolve));
    let consumer: { cancel(): Promise<void> } | undefined;
    const queue = replyQueue(this.oid);
    if (ticket) {
      await transport.declareQueue({ ...queue, transient: true });
      consumer = await transport.consume([queue.name], { prefetch: 64 }, (delivery) => {
        delivery.ack();
        const headers = delivery.properties.headers ?? {};
        this.#clock.adjust(headers.clock);
        if (headers.ticket !== ticket) return;
        const body = decodeBody(delivery);
        if (typeof body !== 'object' || body === null) return;
        replies.push(body as ControlReply);
        if (replies.length >= limit) finish();
      });
    }
    try {
      const headers = { clock: this.#clock.forward(), expires: timeoutMs > 0 ? Date.now() / 1000 + timeoutMs / 1000 : 0 };
      try {
        await transport.publish(encodeJson(request, headers), { exchange: CONTROL_EXCHANGE, routingKey: '', mandatory: false });
      } catch (error) {
        // No node queue bound yet (memory://): nobody listens, so nobody replies.
        if (!(error instanceof PublishError && error.reason === 'unroutable')) throw error;
      }
      if (ticket) {
        const timer = setTimeout(finish, timeoutMs);
        await collected;
        clearTimeout(timer);
      }
    } finally {
      if (consumer) {
        await consumer.cancel().catch(() => undefined);
        await transport.deleteQueue(queue.name).catch(() => undefined);
      }
    }
    return replies;
  }

  inspect(method: InspectMethod, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast(method, {}, options);
  }

  ping(options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('ping', {}, options);
  }

  /**
   * Revokes tasks: stores the revocation in the result backend first (so workers that start
   * later honour it), then tells the running workers. With `terminate`, running ones are given up.
   */
  async revoke(taskIds: string | string[], options: BroadcastOptions & { terminate?: boolean } = {}): Promise<ControlReply[]> {
    const ids = Array.isArray(taskIds) ? taskIds : [taskIds];
    if (ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === ''))
      throw new ConfigError('taskId', 'expected one or more task ids');
    // Without a store (rpc://, no backend) only the workers listening now learn of it, as in Celery.
    await revocationStore(this.app)?.add(ids, Date.now() + REVOKE_EXPIRES_MS);
    const { terminate = false, ...rest } = options;
    return this.broadcast(
      'revoke',
      { task_id: ids.length === 1 ? ids[0] : ids, terminate, signal: terminate ? 'SIGTERM' : null },
      { reply: false, ...rest },
    );
  }

  rateLimit(taskName: string, rate: string | number, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('rate_limit', { task_name: taskName, rate_limit: rate }, options);
  }

  addConsumer(queue: string, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('add_consumer', { queue }, options);
  }

  cancelConsumer(queue: string, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('cancel_consumer', { queue }, options);
  }

  shutdown(options: BroadcastOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('shutdown', {}, { reply: false, ...options });
  }
}
