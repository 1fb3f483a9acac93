import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'winston';
import type { ExchangeDeclaration, QueueDeclaration } from '../transport.js';
import { closeQuietly, describeError, type ConnectionManager } from './connection.js';
import { queueArguments } from './queue-arguments.js';

/** How often an operation is retried when the connection it ran on was lost under it. */
const LOST_CONNECTION_ATTEMPTS = 3;
/** Admin channels per connection: checks and declarations of different queues run side by side. */
const ADMIN_CHANNELS = 4;

/**
 * The queues, exchanges and bindings this transport declared, and the queue-level operations
 * (declare, purge, count). Everything runs on the consuming connection, because an exclusive
 * queue can only be consumed on the connection that declared it.
 *
 * Invariants:
 * - a declaration is remembered only after the broker accepted it, keyed by queue (exchange)
 *   name (the latest declaration of a name wins), unless it is `transient`; exchanges are
 *   declared again in the order first declared, so an exchange-to-exchange binding's source
 *   exists before it is bound;
 * - after a reconnect, `restore` declares every remembered queue again before any consumer
 *   is resumed (the connection manager runs it in its connected hook);
 * - each admin channel belongs to one connection; a channel closed by a failed operation
 *   (404, 406) is replaced on its next use, and operations it took down are tried again.
 */
export class Topology {
  private readonly declared = new Map<string, QueueDeclaration>();
  private readonly exchanges = new Map<string, ExchangeDeclaration>();
  /**
   * Queues this transport declared as quorum queues (transient ones too): only their deliveries'
   * `x-delivery-count` is the broker's count. A name leaves the set when it is deleted, or
   * declared again as a classic queue.
   */
  private readonly quorum = new Set<string>();
  /** Admin channels, used round-robin: a channel runs one RPC at a time (amqplib queues the rest). */
  private readonly admins: ({ connection: ChannelModel; channel: Promise<Channel> } | null)[] = Array.from(
    { length: ADMIN_CHANNELS },
    () => null,
  );
  private nextAdmin = 0;

  constructor(
    private readonly connections: ConnectionManager,
    private readonly logger: Logger,
    private readonly url: string,
  ) {}

  async declare(queue: QueueDeclaration): Promise<void> {
    await this.withAdminChannel((channel) => declareOn(channel, queue));
    if (!queue.transient) this.declared.set(queue.name, queue);
    if (queue.type === 'quorum') this.quorum.add(queue.name);
    else this.quorum.delete(queue.name);
  }

  /** True when this transport declared `queue` a quorum queue: the broker counts its deliveries. */
  countsDeliveries(queue: string): boolean {
    return this.quorum.has(queue);
  }

  async declareExchange(exchange: ExchangeDeclaration): Promise<void> {
    await this.withAdminChannel((channel) => declareExchangeOn(channel, exchange));
    this.exchanges.set(exchange.name, exchange);
  }

  async purge(queue: string): Promise<number> {
    const reply = await this.withAdminChannel((channel) => channel.purgeQueue(queue));
    return reply.messageCount;
  }

  async deleteQueue(queue: string): Promise<void> {
    this.declared.delete(queue);
    this.quorum.delete(queue);
    await this.withAdminChannel((channel) => channel.deleteQueue(queue));
  }

  async messageCount(queue: string): Promise<number> {
    const reply = await this.withAdminChannel((channel) => channel.checkQueue(queue));
    return reply.messageCount;
  }

  /** Declares every remembered queue on a fresh connection; one failure does not stop the rest. */
  async restore(connection: ChannelModel): Promise<void> {
    if (this.declared.size === 0 && this.exchanges.size === 0) return;
    let channel = await openQuietChannel(connection);
    for (const exchange of this.exchanges.values()) {
      try {
        await declareExchangeOn(channel, exchange);
      } catch (error) {
        this.logger.error(`broker ${this.url}: re-declaring exchange ${exchange.name} failed: ${describeError(error)}`);
        channel = await openQuietChannel(connection);
      }
    }
    for (const queue of this.declared.values()) {
      try {
        await declareOn(channel, queue);
      } catch (error) {
        this.logger.error(`broker ${this.url}: re-declaring queue ${queue.name} failed: ${describeError(error)}`);
        channel = await openQuietChannel(connection);
      }
    }
    await closeQuietly(channel);
  }

  /**
   * Runs one operation on an admin channel. Tried again on a fresh channel when the connection
   * was lost under it, or when the channel was closed by another operation's failure (a 404
   * from someone else's check closes the channel for everyone on it: those operations fail
   * without a reply code). A broker refusal of this operation (it has a reply code) is passed on.
   */
  private async withAdminChannel<T>(operation: (channel: Channel) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const connection = await this.connections.acquire();
      try {
        return await operation(await this.adminChannel(connection));
      } catch (error) {
        const lost = this.connections.connection !== connection;
        const collateral = typeof (error as { code?: unknown }).code !== 'number';
        if (!(lost || collateral) || attempt >= LOST_CONNECTION_ATTEMPTS) throw error;
      }
    }
  }

  private adminChannel(connection: ChannelModel): Promise<Channel> {
    const slot = this.nextAdmin;
    this.nextAdmin = (slot + 1) % ADMIN_CHANNELS;
    const current = this.admins[slot];
    if (current?.connection === connection) return current.channel;
    const channel = openQuietChannel(connection);
    const admin = { connection, channel };
    this.admins[slot] = admin;
    const forget = (): void => {
      if (this.admins[slot] === admin) this.admins[slot] = null;
    };
    channel.then((open) => open.on('close', forget), forget);
    return channel;
  }
}

async function declareExchangeOn(channel: Channel, exchange: ExchangeDeclaration): Promise<void> {
  await channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable ?? true });
  if (exchange.from) await channel.bindExchange(exchange.name, exchange.from.exchange, exchange.from.routingKey);
}

async function declareOn(channel: Channel, queue: QueueDeclaration): Promise<void> {
  if (queue.exchange) {
    await channel.assertExchange(queue.exchange, queue.exchangeType ?? 'direct', { durable: queue.exchangeDurable ?? true });
  }
  await channel.assertQueue(queue.name, {
    durable: queue.durable ?? true,
    exclusive: queue.exclusive ?? false,
    autoDelete: queue.autoDelete ?? false,
    arguments: queueArguments(queue),
  });
  if (queue.exchange) await channel.bindQueue(queue.name, queue.exchange, queue.routingKey ?? queue.name);
}

/** A channel whose server-side close (reported as 'error' by amqplib) rejects the operation, not the process. */
async function openQuietChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  return channel;
}
