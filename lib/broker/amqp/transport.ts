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
import { Takes } from './takes.js';
import { Publisher } from './publisher.js';
import { Topology } from './topology.js';
import { toDeclareError, toTransportError } from './channel-errors.js';
import { checkQueueIntents } from '../declaration-intents.js';
import { resolveTls, withoutTlsParameters } from '../../util/tls-settings.js';

/**
 * The RabbitMQ transport (amqp:// and amqps://; TLS is amqplib's). Creating it does no I/O:
 * the consuming connection opens on the first declare/consume/purge/count, the publishing
 * connection on the first publish.
 *
 * After the consuming connection is replaced, topology is re-declared before consumers resume;
 * after the publishing connection is replaced, unconfirmed publishes are written again.
 * Isolated publishes (PublishTarget.isolated) have a Publisher, and so a channel, of their own
 * on the publishing connection: the broker closing theirs leaves the task messages' alone.
 */
export function createAmqpTransport(url: string, options: TransportOptions): Transport {
  const scheme = schemeOf(url);
  if (scheme !== 'amqp' && scheme !== 'amqps') {
    throw new ConfigError('broker', `expected an amqp:// or amqps:// URL, got ${redactUrl(url)}`);
  }
  // The app resolves TLS settings (and reads their files) once; a transport made without them
  // takes them from the URL's own query parameters.
  const tls = options.tls ?? resolveTls({ urlOption: 'broker', url, option: 'brokerTls', given: undefined });
  if (tls?.certReqs === 'none') {
    options.logger.warn(
      `broker ${redactUrl(withoutTlsParameters(url))}: TLS certificate verification is off (cert_reqs=none): ` +
        "the server's identity is not checked, and anyone on the network path can pose as it",
    );
  }
  return new AmqpTransport(url, { ...options, tls });
}

class AmqpTransport implements Transport {
  readonly url: string;
  private readonly consuming: ConnectionManager;
  private readonly publishing: ConnectionManager;
  private readonly topology: Topology;
  private readonly consumers: Consumers;
  private readonly takes: Takes;
  private readonly publisher: Publisher;
  /** The isolated publishes' own publisher (its own channel), made on the first one. */
  private isolatedPublisher: Publisher | null = null;
  private readonly options: TransportOptions;
  private closed: Promise<void> | null = null;

  constructor(url: string, options: TransportOptions) {
    this.url = redactUrl(withoutTlsParameters(url));
    this.options = options;
    const { logger } = options;
    this.consuming = new ConnectionManager(url, 'consume', options, async (connection, reconnected) => {
      if (!reconnected) return;
      await this.topology.restore(connection);
      await this.consumers.resume(connection);
    });
    this.publishing = new ConnectionManager(url, 'publish', options);
    this.topology = new Topology(this.consuming, logger, this.url);
    this.consumers = new Consumers(
      this.consuming,
      this.topology,
      { initialMs: options.connectInitialDelayMs, maxMs: options.connectMaxDelayMs },
      logger,
      this.url,
    );
    this.takes = new Takes(this.consuming, this.consumers, (queue) => this.topology.countsDeliveries(queue), this.url);
    this.publisher = this.newPublisher();
  }

  /**
   * Broker refusals reach callers as TransportError (reason from the reply code; see
   * channel-errors.ts). Publishes need none: the publisher settles them with PublishError.
   */
  private readonly refusal = (error: unknown): never => {
    throw toTransportError(error, this.url);
  };

  private newPublisher(): Publisher {
    const { maxUnconfirmedPublishes, confirmTimeoutMs, connectInitialDelayMs, logger } = this.options;
    return new Publisher(
      this.publishing,
      maxUnconfirmedPublishes ?? Number.POSITIVE_INFINITY,
      confirmTimeoutMs,
      connectInitialDelayMs,
      logger,
      this.url,
    );
  }

  declareQueue(queue: QueueDeclaration): Promise<void> {
    try {
      checkQueueIntents(queue);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.topology.declare(queue).catch((error: unknown) => {
      throw toDeclareError(error, queue, this.url);
    });
  }

  declareExchange(exchange: ExchangeDeclaration): Promise<void> {
    return this.topology.declareExchange(exchange).catch(this.refusal);
  }

  publish(message: OutgoingMessage, target: PublishTarget): Promise<void> {
    if (!target.isolated) return this.publisher.publish(message, target);
    if (this.closed) return this.publisher.publish(message, target); // rejects: closed
    this.isolatedPublisher ??= this.newPublisher();
    return this.isolatedPublisher.publish(message, target);
  }

  consume(queues: string[], options: ConsumeOptions, onDelivery: DeliveryHandler): Promise<ConsumerHandle> {
    return this.consumers.consume(queues, options, onDelivery).catch(this.refusal);
  }

  purge(queue: string): Promise<number> {
    return this.topology.purge(queue).catch(this.refusal);
  }

  messageCount(queue: string): Promise<number> {
    return this.topology.messageCount(queue).catch(this.refusal);
  }

  get(queue: string): Promise<Delivery | null> {
    return this.takes.get(queue).catch(this.refusal);
  }

  getMany(queue: string, max: number): Promise<Delivery[]> {
    return this.takes.getMany(queue, max).catch(this.refusal);
  }

  deleteQueue(queue: string): Promise<void> {
    return this.topology.deleteQueue(queue).catch(this.refusal);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.consumers.close();
      await Promise.all([this.publisher.close(), this.isolatedPublisher?.close()]);
      await Promise.all([this.consuming.close(), this.publishing.close()]);
    })();
    return this.closed;
  }
}
