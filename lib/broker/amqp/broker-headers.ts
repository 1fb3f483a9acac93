import type { DeadLetterReason, DeadLetterRecord } from '../transport.js';

/**
 * The headers RabbitMQ itself writes on a message: the death trace it adds when it dead-letters
 * one, and a quorum queue's delivery count. The AMQP adapter alone names them: it reads them into
 * Delivery fields (`deadLetter`, `deliveryCount`) and drops them from the headers it hands up, so
 * nothing above the adapter sees them, and a delivery's properties published again carry none
 * (a stale trace or count would follow the message into its next queue).
 */
const DEATH = 'x-death';
const FIRST_DEATH = ['x-first-death-reason', 'x-first-death-queue', 'x-first-death-exchange'] as const;
const LAST_DEATH = ['x-last-death-reason', 'x-last-death-queue', 'x-last-death-exchange'] as const;
const DELIVERY_COUNT = 'x-delivery-count';
const BROKER_HEADERS: readonly string[] = [DEATH, ...FIRST_DEATH, ...LAST_DEATH, DELIVERY_COUNT];
const REASONS: ReadonlySet<string> = new Set<DeadLetterReason>(['rejected', 'expired', 'delivery_limit', 'maxlen']);

export interface BrokerFields {
  /** The headers without the broker's own (the same object when it had none). */
  headers: Record<string, unknown>;
  deadLetter?: DeadLetterRecord;
  deliveryCount?: number;
}

/**
 * Splits the broker's headers off a received message's headers. `countsDeliveries`: the queue
 * it came from was declared a quorum queue by this transport, so its `x-delivery-count` is the
 * broker's; from any other queue that header could be anyone's and is dropped unread.
 */
export function splitBrokerHeaders(headers: Record<string, unknown>, countsDeliveries: boolean): BrokerFields {
  if (!BROKER_HEADERS.some((name) => name in headers)) return { headers };
  const fields: BrokerFields = { headers: {} };
  for (const [name, value] of Object.entries(headers)) {
    if (!BROKER_HEADERS.includes(name)) fields.headers[name] = value;
  }
  const deadLetter = deathRecord(headers);
  if (deadLetter) fields.deadLetter = deadLetter;
  const count = headers[DELIVERY_COUNT];
  if (countsDeliveries && typeof count === 'number' && Number.isInteger(count) && count >= 0) fields.deliveryCount = count;
  return fields;
}

/** The latest death: x-death's first entry (RabbitMQ keeps the most recent first), else the x-last-death-* / x-first-death-* trio. */
function deathRecord(headers: Record<string, unknown>): DeadLetterRecord | undefined {
  const deaths = Array.isArray(headers[DEATH]) ? (headers[DEATH] as unknown[]).filter(isTable) : [];
  const latest = deaths[0];
  const [reasonName, queueName, exchangeName] = headers[LAST_DEATH[0]] !== undefined ? LAST_DEATH : FIRST_DEATH;
  const reason = text(latest?.reason) ?? text(headers[reasonName]);
  const queue = text(latest?.queue) ?? text(headers[queueName]);
  if (reason === null || !REASONS.has(reason) || queue === null) return undefined;
  const time = timestamp(latest?.time);
  const count = deaths.reduce((sum, death) => sum + (typeof death.count === 'number' ? death.count : 1), 0);
  const keys = Array.isArray(latest?.['routing-keys']) ? (latest['routing-keys'] as unknown[]).map(text).filter((key) => key !== null) : [];
  return {
    reason: reason as DeadLetterReason,
    queue,
    exchange: text(latest?.exchange) ?? text(headers[exchangeName]) ?? '',
    routingKeys: keys,
    ...(time ? { time } : {}),
    count: Math.max(1, count),
  };
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : null;
}

/** An AMQP timestamp (seconds): amqplib decodes one in a table as `{ '!': 'timestamp', value }`, or a plain number. */
function timestamp(value: unknown): Date | undefined {
  const seconds = typeof value === 'number' ? value : isTable(value) ? value.value : undefined;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined;
}
