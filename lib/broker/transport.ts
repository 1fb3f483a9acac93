/**
 * The contract between celeriac and a message broker. `app`, `worker`, `canvas` and `result`
 * use only this interface; adapters (amqp, memory) are picked by URL scheme in registry.ts.
 *
 * Semantics every adapter keeps (spec/conformance/transport.conformance.ts checks them):
 * - `publish` resolves only when the broker has taken responsibility for the message
 *   (AMQP: publisher confirm). An unroutable message (no queue bound for the routing key,
 *   published with `mandatory`; an exchange the broker refuses; an exchange name or routing
 *   key over 255 bytes, refused before anything is written) rejects with PublishError('unroutable'); a publish the
 *   broker keeps nacking (it is written again meanwhile) with PublishError('nacked') once it has nacked it for
 *   `confirmTimeoutMs`; no confirm within `confirmTimeoutMs` with PublishError('confirm-timeout').
 * - Deliveries are handed out at most `prefetch` unsettled at a time per queue consumed.
 * - A delivery is settled once: the first `ack`/`reject` counts, later calls return false.
 *   After the connection that delivered it is lost, settling returns false and the broker
 *   redelivers the message (with `redelivered` set) to some consumer.
 * - After a lost connection the adapter reconnects by itself (backoff with jitter),
 *   re-declares every queue it declared and resumes every consumer that was not cancelled.
 * - A consumer the broker cancels (AMQP basic.cancel: its queue deleted, a quorum queue's leader
 *   moved; memory:// never cancels one) goes on consuming once the queue is there again: the
 *   adapter re-declares a queue it declared, and deliveries already handed out stay settle-able.
 * - A broker refusal of a declaration, purge, count, get or consume rejects with TransportError,
 *   its `reason` (precondition-failed, not-found, access-refused, resource-locked, ...) mapped by
 *   the adapter; nothing above the adapter reads the broker's own codes, headers or shapes.
 * - Queues are declared by intent (QueueDeclaration); deliveries report what the broker did to
 *   a message (`deliveryCount`, `deadLetter`) as fields, never as headers.
 */

export interface MessageProperties {
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  correlationId?: string;
  replyTo?: string;
  /** 0..255; only honoured by queues declared with a `maxPriority` (capped at it). */
  priority?: number;
  /** Per-message TTL in ms, as AMQP's decimal string. */
  expiration?: string;
  messageId?: string;
  /** Default true: delivery mode 2, survives a broker restart on a durable queue. */
  persistent?: boolean;
}

/**
 * A message to publish. The transport keeps it (body and headers by reference) until its publish
 * settles, to write it again after a reconnect: the caller must not change it meanwhile.
 */
export interface OutgoingMessage extends MessageProperties {
  body: Buffer;
}

export interface PublishTarget {
  /** '' is the default exchange: routing key = queue name. */
  exchange: string;
  routingKey: string;
  /** Default true: an unroutable message is returned and the publish rejects. */
  mandatory?: boolean;
  /**
   * Called each time the message is actually written to the broker (a publish may wait behind
   * others, and is written again after a lost channel); its exchange and routing key replace
   * the ones above. For routes that depend on the moment of sending, like a delay's.
   */
  routeAtWrite?: () => { exchange: string; routingKey: string };
  /**
   * Write it on a channel apart from every publish without this flag (AMQP: a channel of its
   * own on the publishing connection, opened again when the broker closes it). For routes taken
   * from an incoming message, such as a remote-control reply_to: the broker refuses an exchange
   * that does not exist, or may not be written, by closing the channel, and what else was in
   * flight on that channel shares its fate. Default false.
   */
  isolated?: boolean;
}

export interface Delivery {
  readonly body: Buffer;
  readonly properties: MessageProperties;
  readonly exchange: string;
  readonly routingKey: string;
  /** The queue this delivery was consumed from. */
  readonly queue: string;
  readonly redelivered: boolean;
  /**
   * How many times the broker delivered this message before (0 on its first delivery), when
   * its queue counts deliveries: a quorum queue that this transport declared (`type: 'quorum'`).
   * Undefined otherwise — on a queue not known to be quorum, whatever claims to be the count
   * could have been set by anyone.
   */
  readonly deliveryCount?: number;
  /**
   * Set when the broker dead-lettered this message on its way here (it expired, was rejected
   * without requeue, or passed a queue's delivery limit): its latest death. The adapter keeps
   * the broker's own trace out of `properties.headers`, so a delivery's properties can be
   * published again as they are, without it.
   */
  readonly deadLetter?: DeadLetterRecord;
  /** Settles positively. Returns false if already settled or the delivering channel is gone. */
  ack(): boolean;
  /** requeue=true returns the message to its queue; false drops it (or dead-letters it via the queue's DLX). */
  reject(requeue: boolean): boolean;
}

/** Why the broker dead-lettered a message (RabbitMQ's words, which celeriac's listings show). */
export type DeadLetterReason = 'rejected' | 'expired' | 'delivery_limit' | 'maxlen';

/** A broker's record of dead-lettering a message: the latest time it happened. */
export interface DeadLetterRecord {
  readonly reason: DeadLetterReason;
  /** The queue the message died in. */
  readonly queue: string;
  /** The exchange it had been published to before it died there. */
  readonly exchange: string;
  /** The routing keys it had been published with before it died there. */
  readonly routingKeys: readonly string[];
  /** When it died there; undefined if the broker did not say. */
  readonly time?: Date;
  /** How many times it has been dead-lettered, across all queues and reasons (at least 1). */
  readonly count: number;
}

/** A queue's type: 'classic' (one node holds it) or 'quorum' (replicated with Raft across a cluster). */
export type QueueType = 'classic' | 'quorum';

/** Where a queue's dead messages go: through an exchange (with a routing key, else their own), or straight to a queue. */
export type DeadLetterTarget = { exchange: string; routingKey?: string } | { queue: string };

/**
 * A queue, declared by what it is for; each adapter maps these intents onto its broker (AMQP:
 * `x-` queue arguments, in lib/broker/amqp/queue-arguments.ts). Every declarer of a queue must
 * declare the same intents (RabbitMQ refuses a re-declaration that differs).
 */
export interface QueueDeclaration {
  name: string;
  /** Default true. A quorum queue is always durable. */
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  /**
   * 'classic' (default) or 'quorum': replicated, always durable, no priorities; the broker counts
   * its deliveries (Delivery.deliveryCount) and may cap them (`deliveryLimit`).
   */
  type?: QueueType;
  /** Classic queues: honour message priorities 0..maxPriority (1..255; up to 10 advised). */
  maxPriority?: number;
  /** Where expired, rejected (without requeue) and over-the-limit messages go; without it they are dropped. */
  deadLetterTo?: DeadLetterTarget;
  /**
   * Quorum queues with `deadLetterTo`: 'at-least-once' keeps a dead-lettered message in this
   * queue until its target confirmed it (RabbitMQ 3.10+; it also makes the queue refuse publishes
   * when over a length limit, instead of dropping its head), where the default, 'at-most-once',
   * loses it if the target cannot take it at that moment (a leader moving, a missing route).
   */
  deadLetterStrategy?: 'at-most-once' | 'at-least-once';
  /** Ms a message may wait in the queue before it expires (at the head of the queue). */
  messageTtl?: number;
  /** Ms the queue may go unused (no consumer, no declaration, no get) before the broker deletes it. */
  expires?: number;
  /** Quorum queues: a message returned more than this many times is dead-lettered (or dropped). */
  deliveryLimit?: number;
  /** When set, the exchange is declared (durable) and the queue bound to it with `routingKey`. */
  exchange?: string;
  exchangeType?: 'direct' | 'topic' | 'fanout';
  /** Durability of that exchange. Default true (Celery's pidbox exchanges are not durable: declare them alike). */
  exchangeDurable?: boolean;
  /** Default: the queue name. */
  routingKey?: string;
  /**
   * Declare it now, but do not remember it for re-declaration after reconnects (e.g. another
   * client's reply queue, which a worker only needs to exist when it publishes).
   */
  transient?: boolean;
}

export interface ExchangeDeclaration {
  name: string;
  type: 'direct' | 'topic' | 'fanout';
  /** Default true. Every declarer of an exchange must agree on it (RabbitMQ refuses a mismatch). */
  durable?: boolean;
  /**
   * Also bind this exchange to `from.exchange` (which must exist): what that exchange routes
   * with a key matching `from.routingKey` is routed on by this one too. An exchange-to-exchange
   * binding, a RabbitMQ extension to AMQP 0-9-1.
   */
  from?: { exchange: string; routingKey: string };
}

export interface ConsumeOptions {
  /** Most unsettled deliveries at a time, per queue. */
  prefetch: number;
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface ConsumerHandle {
  /**
   * Stops new deliveries (and stops resuming after reconnects). Deliveries already handed out
   * stay settle-able until the transport closes.
   */
  cancel(): Promise<void>;
}

export interface Transport {
  /** The broker URL with the password hidden. */
  readonly url: string;
  /** Idempotent. Remembered, and declared again after every reconnect. */
  declareQueue(queue: QueueDeclaration): Promise<void>;
  /** Idempotent (with its binding, if any). Remembered, and declared again after every reconnect. */
  declareExchange(exchange: ExchangeDeclaration): Promise<void>;
  /**
   * Resolves once the broker took the message (confirmed it). The message object is kept, not
   * copied, until then (it may be written again after a lost connection): do not change it, or
   * its headers, before the publish settles.
   */
  publish(message: OutgoingMessage, target: PublishTarget): Promise<void>;
  consume(queues: string[], options: ConsumeOptions, onDelivery: DeliveryHandler): Promise<ConsumerHandle>;
  /** Removes all ready messages from the queue; resolves with how many. */
  purge(queue: string): Promise<number>;
  /** Number of ready messages in the queue (for tests, purge and metrics). */
  messageCount(queue: string): Promise<number>;
  /**
   * Takes one ready message (AMQP basic.get with acknowledgement), or null when there is none.
   * The delivery stays unsettled — invisible to consumers — until acked or rejected; if the
   * transport's connection is lost first, the broker returns it to the queue.
   */
  get(queue: string): Promise<Delivery | null>;
  /**
   * Takes up to `max` ready messages at once, each unsettled as from get(): fewer when the
   * queue runs out. For draining many (a chord's parts) in one subscription instead of one
   * round trip per message. Rejects if the connection is lost before the batch is complete.
   */
  getMany(queue: string, max: number): Promise<Delivery[]>;
  /** Deletes the queue with its messages, and stops re-declaring it after reconnects. */
  deleteQueue(queue: string): Promise<void>;
  /** Cancels consumers, waits for pending confirms, closes connections. Idempotent. */
  close(): Promise<void>;
}

export interface TransportOptions {
  /** Seconds; 0 disables. Default 30. */
  heartbeatSeconds: number;
  /**
   * Largest frame accepted from the broker, in bytes (at least 4096; 0 = no limit). Unset:
   * 64 MiB, or the negotiated frame size if larger. A larger frame closes the connection.
   */
  maxFrameSize?: number | null;
  /** Default 30_000. */
  confirmTimeoutMs: number;
  /**
   * Publishes written to the broker and not yet confirmed, at most; later ones wait in the
   * process, in order, until confirms make room. Default null: no limit.
   */
  maxUnconfirmedPublishes?: number | null;
  /** Connection attempts (on any node of a broker list) before giving up on an operation; null = forever. Default null. */
  connectMaxRetries: number | null;
  /** First reconnect delay; doubles per attempt up to connectMaxDelayMs, with full jitter. */
  connectInitialDelayMs: number;
  connectMaxDelayMs: number;
  logger: import('winston').Logger;
  /** The order in which the nodes of a broker list are tried (broker-list.ts). Default 'round-robin'. */
  failoverStrategy?: import('./broker-list.js').FailoverStrategy;
  /** Called each time a lost connection has been replaced (after topology and consumers are restored). */
  onReconnect?: (role: 'publish' | 'consume') => void;
  /**
   * TLS settings of a TLS URL (amqps://), files already read (lib/util/tls-settings.ts). Unset:
   * resolved from the URL's own query parameters (ssl_ca_certs, ...) by the adapter.
   */
  tls?: import('../util/tls-settings.js').TlsConfig | null;
}
