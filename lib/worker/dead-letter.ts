import type { WorkerHost } from './host.js';
import type { Delivery, Transport } from '../broker/transport.js';
import type { AppConfig } from '../app/config.js';
import { deadLetterDeclaration, deadLetterQueueName } from '../app/queues.js';
import { boundedHeaders } from '../protocol/header-bounds.js';
import { MAX_DEAD_LETTER_ERROR_CHARS, truncateText } from '../util/truncate.js';
import { isRetryableFault } from './fault-kind.js';

/** Headers added to a dead-lettered message; the original headers and body are kept intact. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-celeriac-dead-letter-reason',
  error: 'x-celeriac-dead-letter-error',
  queue: 'x-celeriac-dead-letter-queue',
  at: 'x-celeriac-dead-lettered-at',
} as const;

/**
 * Headers dropped when a dead-lettered message is re-queued: celeriac's. The broker's own (its
 * death trace, a quorum queue's delivery count) never reach a Delivery's headers: the transport
 * shows them as `deadLetter` and `deliveryCount`, so a re-queued copy carries none of them.
 */
const REQUEUE_DROPPED_HEADERS: readonly string[] = Object.values(DEAD_LETTER_HEADERS);

/**
 * Moves a delivery that cannot be processed to `<queue>.dead-letter`, with why in its headers.
 * Contract: the original is acked only after the broker confirmed the dead-letter copy; if that
 * publish fails, the original is requeued instead — the message is never dropped. The copy has
 * no AMQP expiration (the dead-letter queue has no dead-letter target: it would vanish). A copy
 * that can never be published as it is (the original's headers plus ours exceed what the client
 * can encode) goes with its headers cut to their bounds (boundedHeaders), and if even that
 * cannot be published, with only the task's `id` and `task` headers besides ours (cut likewise),
 * body unchanged. The dead-letter queue is declared with the type `config` gives it (classic
 * without one).
 * Resolves true when the message was dead-lettered.
 */
export async function deadLetter(
  transport: Transport,
  delivery: Delivery,
  reason: string,
  error: string,
  config?: Pick<AppConfig, 'queues' | 'defaultQueueType'>,
): Promise<boolean> {
  const target = deadLetterQueueName(delivery.queue);
  const { expiration: _dropped, ...properties } = delivery.properties;
  const ours = {
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.error]: truncateText(error, MAX_DEAD_LETTER_ERROR_CHARS),
    [DEAD_LETTER_HEADERS.queue]: delivery.queue,
    [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
  };
  const publish = (headers: Record<string, unknown>): Promise<void> =>
    transport.publish(
      { ...properties, body: delivery.body, headers: { ...headers, ...ours }, persistent: true },
      { exchange: '', routingKey: target, mandatory: true },
    );
  try {
    await declareOnce(transport, delivery.queue, config);
    const { headers } = delivery.properties;
    const { id, task } = headers;
    const attempts = [headers, boundedHeaders(headers), boundedHeaders({ id, task })];
    for (const [index, attempt] of attempts.entries()) {
      if (index === 1 && attempt === headers) continue; // nothing over its bound: cutting changes nothing
      try {
        await publish(attempt);
        break;
      } catch (error) {
        if (isRetryableFault(error) || index === attempts.length - 1) throw error;
      }
    }
  } catch {
    // Declared again next time: the queue may have been deleted since.
    declared.get(transport)?.delete(delivery.queue);
    delivery.reject(true);
    return false;
  }
  delivery.ack();
  return true;
}

/**
 * The dead-letter queue of each source queue, declared once per transport (the transport
 * re-declares it after reconnects). Callers share one declaration, so their publishes leave
 * in the order they were dead-lettered.
 */
const declared = new WeakMap<Transport, Map<string, Promise<void>>>();

function declareOnce(
  transport: Transport,
  queue: string,
  config: Pick<AppConfig, 'queues' | 'defaultQueueType'> | undefined,
): Promise<void> {
  let queues = declared.get(transport);
  if (!queues) declared.set(transport, (queues = new Map()));
  let declaration = queues.get(queue);
  if (!declaration) {
    declaration = transport.declareQueue(deadLetterDeclaration(queue, config));
    queues.set(queue, declaration);
  }
  return declaration;
}

/** One message in a dead-letter queue, as `celeriac dead-letter list` shows it. */
export interface DeadLetterEntry {
  /** Task id (`id` header, else the correlation id); null if the message has neither. */
  id: string | null;
  /** Task name (`task` header); null for a message that is not a task message. */
  task: string | null;
  /** celeriac's reason (`decode`, `unknown-task`, `redelivery-limit`...), or RabbitMQ's (`delivery_limit`). */
  reason: string | null;
  error: string | null;
  /** The queue it was consumed from, where `requeue` sends it. */
  queue: string;
  /** ISO 8601 time it was dead-lettered, when known. */
  at: string | null;
  /** The dead-letter queue it waits in. */
  deadLetterQueue: string;
}

export interface DeadLetterListing {
  deadLetterQueue: string;
  /** Ready messages in the dead-letter queue. */
  total: number;
  /** The first `limit` of them, oldest first. */
  entries: DeadLetterEntry[];
}

/**
 * Lists the first `limit` messages waiting in `<queue>.dead-letter` without removing them: they
 * are taken with getMany (unacked, so invisible to others meanwhile, and returned by the broker
 * if this process dies), and all are rejected with requeue once read — newest first, so they
 * keep their order (RabbitMQ puts a requeued message back at its position; memory:// at the
 * head). They come back flagged `redelivered`, which nothing reads in a dead-letter queue.
 * A reject has no reply: the broker has them back a moment after this returns (on a quorum
 * queue, once the return is replicated), so a listing or re-queue started at once after another
 * may not see (or count) them yet.
 * The dead-letter queue is declared first (one that does not exist lists as empty), with the type
 * the app gives it: pass the app (or an object with its `transport` and `config`), not only its
 * transport, when its dead-letter queues are quorum queues (`defaultQueueType: 'quorum'`).
 */
export async function listDeadLetters(
  source: Transport | DeadLetterSource,
  queue: string,
  options: { limit?: number } = {},
): Promise<DeadLetterListing> {
  const { transport, config } = isTransport(source) ? { transport: source, config: undefined } : source;
  const deadLetterQueue = deadLetterQueueName(queue);
  const limit = options.limit ?? 100;
  await transport.declareQueue(deadLetterDeclaration(queue, config));
  const total = await transport.messageCount(deadLetterQueue);
  const held: Delivery[] = [];
  try {
    while (held.length < limit) {
      const batch = await transport.getMany(deadLetterQueue, limit - held.length);
      if (batch.length === 0) break;
      held.push(...batch);
    }
    return { deadLetterQueue, total, entries: held.map((d) => describeDeadLetter(d, queue)) };
  } finally {
    for (const delivery of held.reverse()) delivery.reject(true);
  }
}

/** What dead-letter listing needs of an app: its broker, and how it declares its queues. */
export interface DeadLetterSource {
  readonly transport: Transport;
  readonly config: Pick<AppConfig, 'queues' | 'defaultQueueType'>;
}

function isTransport(source: Transport | DeadLetterSource): source is Transport {
  return typeof (source as Partial<Transport>).declareQueue === 'function';
}

export interface RequeueOptions {
  /** Re-queue the messages of these task ids. */
  ids?: readonly string[];
  /** Re-queue every message (ignores `ids`). */
  all?: boolean;
}

export interface RequeueReport {
  requeued: DeadLetterEntry[];
  /** Messages chosen but left in the dead-letter queue, with why (e.g. their queue is gone). */
  failed: { entry: DeadLetterEntry; error: string }[];
  /** Ids asked for that are not in the dead-letter queue. */
  missing: string[];
}

/**
 * Sends chosen messages of `<queue>.dead-letter` back to the queue each was consumed from
 * (`x-celeriac-dead-letter-queue`, or the queue the broker dead-lettered it from), body and
 * properties as they were, without the dead-letter headers (and so without the broker's delivery
 * count and death trace, which a Delivery never carries in its headers), so the poison-message
 * limit starts from zero: the task's count of redelivered starts in
 * the result backend is reset too (if the app's backend keeps one).
 *
 * Contract: a message leaves the dead-letter queue (ack) only after the broker confirmed its copy
 * in the target queue — published to the default exchange, mandatory, so a queue that no longer
 * exists fails that message instead of dropping it. Messages not chosen, or whose copy failed,
 * are returned to the dead-letter queue in their order. At-least-once: if this process dies
 * between the confirm and the ack, the message is in both queues. The dead-letter queue is
 * declared first, with the type `app.config` gives it (classic without a config).
 */
export async function requeueDeadLetters(
  app: Pick<WorkerHost, 'transport' | 'hasBackend' | 'backend'> & { readonly config?: DeadLetterSource['config'] },
  queue: string,
  options: RequeueOptions,
): Promise<RequeueReport> {
  const transport = app.transport;
  const deadLetterQueue = deadLetterQueueName(queue);
  const wanted = new Set(options.ids ?? []);
  const report: RequeueReport = { requeued: [], failed: [], missing: [] };
  await transport.declareQueue(deadLetterDeclaration(queue, app.config));
  // Each message is looked at once: held ones are invisible, and the count bounds the loop.
  const total = await transport.messageCount(deadLetterQueue);
  const held: Delivery[] = [];
  const found = new Set<string>();
  try {
    for (let i = 0; i < total; i++) {
      const delivery = await transport.get(deadLetterQueue);
      if (!delivery) break;
      const entry = describeDeadLetter(delivery, queue);
      if (!options.all && (entry.id === null || !wanted.has(entry.id))) {
        held.push(delivery);
        continue;
      }
      if (entry.id !== null) found.add(entry.id);
      try {
        await resetRedeliveryCount(app, entry.id);
        const { expiration: _dropped, ...properties } = delivery.properties;
        const headers = { ...properties.headers };
        for (const name of REQUEUE_DROPPED_HEADERS) delete headers[name];
        await transport.publish(
          { ...properties, headers, body: delivery.body, persistent: true },
          { exchange: '', routingKey: entry.queue, mandatory: true },
        );
      } catch (error) {
        held.push(delivery);
        report.failed.push({ entry, error: (error as Error)?.message ?? String(error) });
        continue;
      }
      delivery.ack();
      report.requeued.push(entry);
    }
  } finally {
    for (const delivery of held.reverse()) delivery.reject(true);
  }
  report.missing = options.all ? [] : [...wanted].filter((id) => !found.has(id));
  return report;
}

/** Sets the task's count of redelivered starts (the poison-message limit, classic queues) back to 0. */
async function resetRedeliveryCount(app: Pick<WorkerHost, 'hasBackend' | 'backend'>, taskId: string | null): Promise<void> {
  if (taskId === null || !app.hasBackend) return;
  const backend = app.backend;
  if (!backend.countRedeliveredStarts) return;
  const count = await backend.countRedeliveredStarts(taskId, 0);
  if (count !== 0) await backend.countRedeliveredStarts(taskId, -count);
}

function describeDeadLetter(delivery: Delivery, queue: string): DeadLetterEntry {
  const headers = delivery.properties.headers ?? {};
  const text = (value: unknown): string | null =>
    typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : null;
  const death = delivery.deadLetter;
  return {
    id: text(headers.id) ?? delivery.properties.correlationId ?? null,
    task: text(headers.task),
    reason: text(headers[DEAD_LETTER_HEADERS.reason]) ?? death?.reason ?? null,
    error: text(headers[DEAD_LETTER_HEADERS.error]),
    queue: text(headers[DEAD_LETTER_HEADERS.queue]) ?? death?.queue ?? queue,
    at: text(headers[DEAD_LETTER_HEADERS.at]) ?? death?.time?.toISOString() ?? null,
    deadLetterQueue: delivery.queue,
  };
}
