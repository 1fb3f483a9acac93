import { ConfigError } from '../../errors/errors.js';
import { redactUrl, schemeOf } from '../../util/url.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  DeliveryHandler,
  OutgoingMessage,
  PublishTarget,
  ExchangeDeclaration,
  QueueDeclaration,
  Transport,
  TransportOptions,
} from '../transport.js';
import { ConnectionManager } from './connection.js';
import { Consumers } from './consumer.js';
import { Publisher } from './publisher.js';
import { Topology } from './topology.js';

/**
 * The RabbitMQ transport (amqp:// and amqps://; TLS is amqplib's). Creating it does no I/O:
 * the consuming connection opens on the first declare/consume/purge/count, the publishing
 * connection on the first publish.
 *
 * After the consuming connection is replaced, topology is re-declared before consumers resume;
 * after the publishing connection is replaced, unconfirmed publishes are written again.
 */
export function createAmqpTransport(url: string, options: TransportOptions): Transport {
  const scheme = schemeOf(url);
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw new ConfigError('broker', `expected an amqp:// or amqps:// URL, got ${redactUrl(url)}`);
  }
  return new AmqpTransport(url, options);
}

class AmqpTransport implements Transport {
  readonly url: string;
  private readonly consuming: ConnectionManager;
  private readonly publishing: ConnectionManager;
  private readonly topology: Topology;
  private readonly consumers: Consumers;
  private readonly publisher: Publisher;
  private closed: Promise<void> | null = null;

  constructor(url: string, options: TransportOptions) {
    this.url = redactUrl(url);
    const { logger } = options;
    this.consuming = new ConnectionManager(url, 'consume', options, async (connection, reconnected) => {
      if (!reconnected) return;
      await this.topology.restore(connection);
      await this.consumers.resume(connection);
    });
    this.publishing = new ConnectionManager(url, 'publish', options);
    this.topology = new Topology(this.consuming, logger, this.url);
    this.consumers = new Consumers(this.consuming, options.connectInitialDelayMs, logger, this.url);
    this.publisher = new Publisher(
      this.publishing,
      options.maxUnconfirmedPublishes ?? Number.POSITIVE_INFINITY,
      options.confirmTimeoutMs,
      options.connectInitialDelayMs,
      logger,
      this.url,
    );
  }

  declareQueue(queue: QueueDeclaration): Promise<void> {
    return this.topology.declare(queue);
  }

  declareExchange(exchange: ExchangeDeclaration): Promise<void> {
    return this.topology.declareExchange(exchange);
  }

  publish(message: OutgoingMessage, target: PublishTarget): Promise<void> {
    return this.publisher.publish(message, target);
  }

  exchangeExists(name: string): Promise<boolean> {
    return this.topology.exchangeExists(name);
  }

  consume(queues: string[], options: ConsumeOptions, onDelivery: DeliveryHandler): Promise<ConsumerHandle> {
    return this.consumers.consume(queues, options, onDelivery);
  }

  purge(queue: string): Promise<number> {
    return this.topology.purge(queue);
  }

  messageCount(queue: string): Promise<number> {
    return this.topology.messageCount(queue);
  }

  get(queue: string): Promise<Delivery | null> {
    return this.consumers.get(queue);
  }

  getMany(queue: string, max: number): Promise<Delivery[]> {
    return this.consumers.getMany(queue, max);
  }

  deleteQueue(queue: string): Promise<void> {
    return this.topology.deleteQueue(queue);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.consumers.close();
      await this.publisher.close();
      await Promise.all([this.consuming.close(), this.publishing.close()]);
    })();
    return this.closed;
  }
}
