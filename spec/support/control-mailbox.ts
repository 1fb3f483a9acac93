import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { App } from '../../lib/index.js';
import type { ConsumerHandle, Delivery } from '../../lib/broker/transport.js';
import { nodeQueue, REPLY_EXCHANGE, replyQueue } from '../../lib/control/mailbox.js';

/**
 * Writes control messages straight into one node's mailbox queue (`<node>.celery.pidbox`, through
 * the default exchange) rather than the `celery.pidbox` fanout, so a hostile message reaches
 * the worker under test and no other worker on the shared broker; and collects replies sent to
 * its own reply queue, by ticket.
 */
export class NodeMailbox {
  readonly oid = randomUUID();
  readonly replies = new Map<string, Record<string, unknown>>();
  #consumer: ConsumerHandle | undefined;

  constructor(
    readonly app: App,
    readonly node: string,
  ) {}

  /** reply_to that reaches this mailbox's reply queue. */
  get replyTo(): { exchange: string; routing_key: string } {
    return { exchange: REPLY_EXCHANGE, routing_key: this.oid };
  }

  async open(): Promise<void> {
    const queue = replyQueue(this.oid);
    await this.app.transport.declareExchange({ name: REPLY_EXCHANGE, type: 'direct', durable: false });
    await this.app.transport.declareQueue({ ...queue, transient: true });
    this.#consumer = await this.app.transport.consume([queue.name], { prefetch: 256 }, (delivery: Delivery) => {
      delivery.ack();
      try {
        this.replies.set(String(delivery.properties.headers.ticket), JSON.parse(delivery.body.toString()) as Record<string, unknown>);
      } catch {
        // Not a reply this spec reads.
      }
    });
  }

  /** Publishes raw bytes with a content type to the node's queue. */
  async sendRaw(
    body: Buffer,
    contentType = 'application/json',
    headers: Record<string, unknown> = { clock: 1, expires: 0 },
  ): Promise<void> {
    await this.app.transport.publish(
      { body, contentType, contentEncoding: contentType === 'application/json' ? 'utf-8' : 'binary', headers, persistent: false },
      { exchange: '', routingKey: nodeQueue(this.node).name, mandatory: false },
    );
  }

  /** Publishes `body` as JSON with a fresh ticket and this mailbox's reply_to (both overridable by `body`); resolves with the ticket. */
  async send(body: Record<string, unknown>): Promise<string> {
    const ticket = randomUUID();
    await this.sendRaw(
      Buffer.from(
        JSON.stringify({ arguments: {}, destination: null, pattern: null, matcher: null, ticket, reply_to: this.replyTo, ...body }),
      ),
    );
    return ticket;
  }

  /** The reply to `ticket`, waiting up to `timeoutMs`; undefined if none came. */
  async reply(ticket: string, timeoutMs = 10_000): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.replies.has(ticket) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    return this.replies.get(ticket);
  }

  async close(): Promise<void> {
    await this.#consumer?.cancel().catch(() => undefined);
    await this.app.transport.deleteQueue(replyQueue(this.oid).name).catch(() => undefined);
  }
}

/** A process's resident set size in bytes, from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}
