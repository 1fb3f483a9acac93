import { ConfigError } from '../../errors/errors.js';
import { redactUrl, schemeOf } from '../../util/url.js';
import { parseBrokerList, resolveBrokerListTls } from '../broker-list.js';
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
import { withoutTlsParameters } from '../../util/tls-settings.js';

/**
 * How long a reconnect waits for the broker to re-declare the queues and resume the consumers
 * before the connection is handed out anyway. In a cluster, a node that is frozen (SIGSTOP, a VM
 * paused) but not yet known to be down to the others (net_ticktime: up to ~75 s) makes RabbitMQ
 * hold every declaration touching its queues, and every new queue, exchange or binding; an
 * existing quorum queue led elsewhere answers at once. Until this passes, nobody else can use
 * the connection (acquire() waits), so a frozen node would otherwise stop the whole transport.
 */
const RESTORE_WAIT_MS = 10_000;

/** True when `work` did not settle within `ms` (it goes on). */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
  try {
    return await Promise.race([work.then(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The RabbitMQ transport (amqp:// and amqps://; TLS is amqplib's). Creating it does no I/O:
 * the consuming connection opens on the first declare/consume/purge/count, the publishing
 * connection on the first publish.
 *
 * `url` may be a broker list (`amqp://a;amqp://b`, broker-list.ts): the nodes of one cluster.
 * Each connection goes to one node at a time and moves on through the list when it cannot
 * connect or loses its connection (connection.ts); the two connections move independently.
 *
 * After the consuming connection is replaced, topology is re-declared, each consumer resuming
 * once its queues are (waiting at most RESTORE_WAIT_MS for the whole before the connection is
 * used again); after the publishing connection is replaced, unconfirmed publishes are written
 * again.
 * Isolated publishes (PublishTarget.isolated) have a Publisher, and so a channel, of their own
 * on the publishing connection: the broker closing theirs leaves the task messages' alone.
 */
export function createAmqpTransport(url: string, options: TransportOptions): Transport {
  const urls = parseBrokerList(url);
  for (const node of urls) {
    const scheme = schemeOf(node);
    if (scheme !== 'amqp' && scheme !== 'amqps') {
      throw new ConfigError('broker', `expected an amqp:// or amqps:// URL, got ${redactUrl(node)}`);
    }
  }
  // The app resolves TLS settings (and reads their files) once; a transport made without them
  // takes them from the URLs' own query parameters.
  const tls = options.tls ?? resolveBrokerListTls(urls, { urlOption: 'broker', option: 'brokerTls', given: undefined });
  const list = urls.map((node) => redactUrl(withoutTlsParameters(node))).join(';');
  if (tls?.certReqs === 'none') {
    options.logger.warn(
      `broker ${list}: TLS certificate verification is off (cert_reqs=none): ` +
        "the server's identity is not checked, and anyone on the network path can pose as it",
    );
  }
  return new AmqpTransport(urls, { ...options, tls });
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

  constructor(urls: string[], options: TransportOptions) {
    this.url = urls.map((node) => redactUrl(withoutTlsParameters(node))).join(';');
    this.options = options;
    const { logger } = options;
    this.consuming = new ConnectionManager(urls, 'consume', options, async (connection, reconnected) => {
      if (!reconnected) return;
      const restoring = this.topology.restore(connection);
      const resuming = this.consumers.resume(connection, (queues) => restoring.ready(queues));
      // What the broker has not answered by then goes on in the background (see RESTORE_WAIT_MS).
      const late = await settledWithin(Promise.all([restoring.done, resuming]), RESTORE_WAIT_MS);
      if (late) {
        const queues = restoring.pending();
        logger.warn(
          `broker ${this.consuming.url}: no answer within ${RESTORE_WAIT_MS / 1000}s to restoring ` +
            `${queues.length > 0 ? `queue(s) ${queues.join(', ')}` : 'some consumers'} (is a cluster node frozen?); ` +
            'going on without waiting: they follow when the broker answers',
        );
      }
    });
    this.publishing = new ConnectionManager(urls, 'publish', options);
    this.topology = new Topology(this.consuming, logger);
    this.consumers = new Consumers(
      this.consuming,
      this.topology,
      { initialMs: options.connectInitialDelayMs, maxMs: options.connectMaxDelayMs },
      logger,
    );
    this.takes = new Takes(this.consuming, this.consumers, (queue) => this.topology.countsDeliveries(queue));
    this.publisher = this.newPublisher();
  }

  /**
   * Broker refusals reach callers as TransportError (reason from the reply code; see
   * channel-errors.ts), naming the node that refused. Publishes need none: the publisher
   * settles them with PublishError.
   */
  private readonly refusal = (error: unknown): never => {
    throw toTransportError(error, this.consuming.url);
  };

  private newPublisher(): Publisher {
    const { maxUnconfirmedPublishes, confirmTimeoutMs, connectInitialDelayMs, logger } = this.options;
    return new Publisher(
      this.publishing,
      maxUnconfirmedPublishes ?? Number.POSITIVE_INFINITY,
      confirmTimeoutMs,
      connectInitialDelayMs,
      logger,
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
