import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'winston';
import type { ExchangeDeclaration, QueueDeclaration } from '../transport.js';
import { closeQuietly, describeError, type ConnectionManager } from './connection.js';
import { queueArguments } from './queue-arguments.js';
import { reasonOf } from './channel-errors.js';
import type { ConsumedQueues } from './consumer.js';

/** A queue's binding to an exchange, as its declaration states it (the exchange declared with it). */
type Binding = Required<Pick<QueueDeclaration, 'exchange' | 'exchangeType' | 'exchangeDurable' | 'routingKey'>>;

/** How often an operation is retried when the connection it ran on was lost under it. */
const LOST_CONNECTION_ATTEMPTS = 3;
/** Admin channels per connection: checks and declarations of different queues run side by side. */
const ADMIN_CHANNELS = 4;
/** Queues a restore declares at once, each on a channel of its own. */
const RESTORE_CHANNELS = 16;

/** A restore in progress (see Topology.restore). */
export interface Restoring {
  /** Settles once each of `queues` exists again (its binding may follow), or its re-declaration failed (logged). */
  ready(queues: readonly string[]): Promise<void>;
  /** The queues whose re-declaration (binding included) has not finished. */
  pending(): string[];
  /** Settles once every re-declaration has; never rejects. */
  readonly done: Promise<void>;
}

/**
 * The queues, exchanges and bindings this transport declared, and the queue-level operations
 * (declare, purge, count). Everything runs on the consuming connection, because an exclusive
 * queue can only be consumed on the connection that declared it.
 *
 * Invariants:
 * - a declaration is remembered only after the broker accepted it, keyed by queue (exchange)
 *   name (the latest declaration of a name wins), unless it is `transient`; so is every binding
 *   a remembered declaration of the queue made (a queue may be bound to several exchanges: its
 *   own and the delay tiers' exit); exchanges are declared again in the order first declared, so
 *   an exchange-to-exchange binding's source exists before it is bound;
 * - after a reconnect, `restore` declares every remembered exchange again, in order (each queue
 *   declares its own exchange before it binds to it), and beside them every remembered queue,
 *   then its bindings, side by side on channels of their own: a queue the broker does not answer
 *   for holds up no other. A consumer resumes once the queues it reads exist again (`ready`),
 *   whatever the rest do, and before their bindings are made again: in a cluster with a node
 *   frozen but not yet known to be down, RabbitMQ answers the declaration of an existing quorum
 *   queue led elsewhere at once, but holds every binding, every new queue or exchange, and every
 *   declaration of a queue on that node until the node answers or is declared down; after
 *   the broker cancelled a consumer, `restoreQueue` declares that one queue again with its
 *   bindings (deleting a queue deletes its bindings, which the broker keeps otherwise);
 * - each admin channel belongs to one connection; a channel closed by a failed operation
 *   (404, 406) is replaced on its next use, and operations it took down are tried again.
 */
export class Topology implements ConsumedQueues {
  private readonly declared = new Map<string, QueueDeclaration>();
  /** The bindings of each remembered queue, keyed by exchange and routing key. */
  private readonly bindings = new Map<string, Map<string, Binding>>();
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
  ) {}

  /** The node in use (password hidden): log lines and errors name it. */
  private get url(): string {
    return this.connections.url;
  }

  async declare(queue: QueueDeclaration): Promise<void> {
    await this.withAdminChannel((channel) => declareOn(channel, queue));
    if (!queue.transient) {
      this.declared.set(queue.name, queue);
      const binding = bindingOf(queue);
      if (binding) {
        let bindings = this.bindings.get(queue.name);
        if (!bindings) this.bindings.set(queue.name, (bindings = new Map()));
        bindings.set(`${binding.exchange}\u0000${binding.routingKey}`, binding);
      }
    }
    if (queue.type === 'quorum') this.quorum.add(queue.name);
    else this.quorum.delete(queue.name);
  }

  /**
   * For a consumer the broker cancelled: a queue this transport declared is declared again
   * (its dead-letter queue first when that is one of ours too, then the queue with all its
   * bindings); any other queue is only checked for. Resolves false when that one does not exist.
   */
  async restoreQueue(queue: string): Promise<boolean> {
    const declaration = this.declared.get(queue);
    if (!declaration) {
      try {
        await this.withAdminChannel((channel) => channel.checkQueue(queue));
        return true;
      } catch (error) {
        if (reasonOf(error) === 'not-found') return false;
        throw error;
      }
    }
    const target = declaration.deadLetterTo;
    const deadLetterQueue = target && 'queue' in target ? this.declared.get(target.queue) : undefined;
    if (deadLetterQueue) await this.withAdminChannel((channel) => this.declareWithBindings(channel, deadLetterQueue));
    await this.withAdminChannel((channel) => this.declareWithBindings(channel, declaration));
    return true;
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
    this.bindings.delete(queue);
    this.quorum.delete(queue);
    await this.withAdminChannel((channel) => channel.deleteQueue(queue));
  }

  async messageCount(queue: string): Promise<number> {
    const reply = await this.withAdminChannel((channel) => channel.checkQueue(queue));
    return reply.messageCount;
  }

  /**
   * Declares every remembered exchange and queue on a fresh connection (see the invariants); one
   * failure does not stop the rest. Returns at once.
   */
  restore(connection: ChannelModel): Restoring {
    const queues = [...this.declared.values()];
    const exists = new Map<string, Promise<void>>();
    const settle = new Map<string, () => void>();
    for (const queue of queues) exists.set(queue.name, new Promise<void>((resolve) => settle.set(queue.name, resolve)));
    const unfinished = new Set(queues.map((queue) => queue.name));
    const run = async (): Promise<void> => {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < queues.length) {
          const queue = queues[next++];
          try {
            const channel = await openQuietChannel(connection);
            await declareQueueOn(channel, queue);
            settle.get(queue.name)!();
            await bindOn(channel, queue);
            await this.bindElsewhere(channel, queue);
            await closeQuietly(channel);
          } catch (error) {
            this.logger.error(`broker ${this.url}: re-declaring queue ${queue.name} failed: ${describeError(error)}`);
          } finally {
            settle.get(queue.name)!();
            unfinished.delete(queue.name);
          }
        }
      };
      const lanes = Array.from({ length: Math.min(RESTORE_CHANNELS, queues.length) }, lane);
      await Promise.all([this.restoreExchanges(connection), ...lanes]);
    };
    return {
      ready: async (names) => {
        await Promise.all(names.map((name) => exists.get(name) ?? Promise.resolve()));
      },
      pending: () => [...unfinished],
      done: run(),
    };
  }

  /** The remembered exchanges, in the order first declared (a binding's source comes first), on one channel. */
  private async restoreExchanges(connection: ChannelModel): Promise<void> {
    if (this.exchanges.size === 0) return;
    try {
      let channel = await openQuietChannel(connection);
      for (const exchange of this.exchanges.values()) {
        try {
          await declareExchangeOn(channel, exchange);
        } catch (error) {
          this.logger.error(`broker ${this.url}: re-declaring exchange ${exchange.name} failed: ${describeError(error)}`);
          channel = await openQuietChannel(connection);
        }
      }
      await closeQuietly(channel);
    } catch (error) {
      this.logger.error(`broker ${this.url}: re-declaring exchanges failed: ${describeError(error)}`);
    }
  }

  /** Declares a remembered queue as last declared, then binds it again to every exchange it was bound to. */
  private async declareWithBindings(channel: Channel, queue: QueueDeclaration): Promise<void> {
    await declareOn(channel, queue);
    await this.bindElsewhere(channel, queue);
  }

  /** Binds a remembered queue that exists again to every exchange it was bound to, besides its own (declareOn, bindOn). */
  private async bindElsewhere(channel: Channel, queue: QueueDeclaration): Promise<void> {
    const own = bindingOf(queue);
    for (const binding of this.bindings.get(queue.name)?.values() ?? []) {
      if (own && binding.exchange === own.exchange && binding.routingKey === own.routingKey) continue;
      await channel.assertExchange(binding.exchange, binding.exchangeType, { durable: binding.exchangeDurable });
      await channel.bindQueue(queue.name, binding.exchange, binding.routingKey);
    }
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

function bindingOf(queue: QueueDeclaration): Binding | null {
  if (!queue.exchange) return null;
  return {
    exchange: queue.exchange,
    exchangeType: queue.exchangeType ?? 'direct',
    exchangeDurable: queue.exchangeDurable ?? true,
    routingKey: queue.routingKey ?? queue.name,
  };
}

async function declareExchangeOn(channel: Channel, exchange: ExchangeDeclaration): Promise<void> {
  await channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable ?? true });
  if (exchange.from) await channel.bindExchange(exchange.name, exchange.from.exchange, exchange.from.routingKey);
}

async function declareOn(channel: Channel, queue: QueueDeclaration): Promise<void> {
  if (queue.exchange) {
    await channel.assertExchange(queue.exchange, queue.exchangeType ?? 'direct', { durable: queue.exchangeDurable ?? true });
  }
  await declareQueueOn(channel, queue);
  if (queue.exchange) await channel.bindQueue(queue.name, queue.exchange, queue.routingKey ?? queue.name);
}

/** The queue alone, without its exchange and binding. */
async function declareQueueOn(channel: Channel, queue: QueueDeclaration): Promise<void> {
  await channel.assertQueue(queue.name, {
    durable: queue.durable ?? true,
    exclusive: queue.exclusive ?? false,
    autoDelete: queue.autoDelete ?? false,
    arguments: queueArguments(queue),
  });
}

/** The queue's exchange and its binding to it, once the queue exists. */
async function bindOn(channel: Channel, queue: QueueDeclaration): Promise<void> {
  if (!queue.exchange) return;
  await channel.assertExchange(queue.exchange, queue.exchangeType ?? 'direct', { durable: queue.exchangeDurable ?? true });
  await channel.bindQueue(queue.name, queue.exchange, queue.routingKey ?? queue.name);
}

/** A channel whose server-side close (reported as 'error' by amqplib) rejects the operation, not the process. */
async function openQuietChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  return channel;
}
