import { hostname as osHostname } from 'node:os';
import type { Transport } from '../broker/transport.js';
import { encodeJson, LamportClock } from '../protocol/broadcast-message.js';
import { newId } from '../util/ids.js';

/**
 * Celery's monitoring events: JSON dicts `{type, hostname, utcoffset, pid, clock, timestamp,
 * ...fields}` published to the topic exchange `celeryev` (durable) with the type as routing key
 * ('task-succeeded' → 'task.succeeded') and a `hostname` header. Monitors (`celeriac events`,
 * Flower, `celery events`) bind a queue `celeryev.<uuid>` (auto-delete, message TTL 5 s,
 * expires 60 s) with '#'. Events are transient and best effort: a failed publish is dropped.
 */
export const EVENT_EXCHANGE = 'celeryev';

export type CeleryEvent = Record<string, unknown> & { type: string; hostname: string; timestamp: number };

/** Hours west of UTC, as Celery's utcoffset() (negative east of Greenwich). */
function utcoffset(): number {
  return Math.trunc(new Date().getTimezoneOffset() / 60);
}

export class EventDispatcher {
  readonly clock = new LamportClock();
  #declared: Promise<void> | undefined;

  constructor(
    private readonly transport: () => Transport,
    readonly hostname: string = `celeriac@${osHostname()}`,
  ) {}

  /** Publishes one event; never throws (events are best effort). */
  async send(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    const event: CeleryEvent = {
      hostname: this.hostname,
      utcoffset: utcoffset(),
      pid: process.pid,
      clock: this.clock.forward(),
      ...fields,
      type,
      timestamp: Date.now() / 1000,
    };
    try {
      const transport = this.transport();
      this.#declared ??= transport.declareExchange({ name: EVENT_EXCHANGE, type: 'topic', durable: true });
      await this.#declared;
      await transport.publish(encodeJson(event, { hostname: this.hostname }), {
        exchange: EVENT_EXCHANGE,
        routingKey: type.replaceAll('-', '.'),
        mandatory: false,
      });
    } catch {
      this.#declared = undefined;
    }
  }
}

/** Queue of one monitor, as Celery's EventReceiver declares it. */
export function eventQueue(routingKey = '#'): {
  name: string;
  durable: false;
  autoDelete: true;
  messageTtl: number;
  expires: number;
  exchange: string;
  exchangeType: 'topic';
  routingKey: string;
  transient: true;
} {
  return {
    name: `celeryev.${newId()}`,
    durable: false,
    autoDelete: true,
    messageTtl: 5000,
    expires: 60_000,
    exchange: EVENT_EXCHANGE,
    exchangeType: 'topic',
    routingKey,
    transient: true,
  };
}
