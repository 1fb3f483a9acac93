import { randomUUID } from 'node:crypto';
import type { TransportOptions } from '../../lib/broker/transport.js';
import { silentLogger } from '../../lib/log/logger.js';
import { deleteCreated } from './rabbitmq-queues.js';

/**
 * What the AMQP transport specs (spec/integration) share: transport options that reconnect fast,
 * and the book of what a spec file opened and declared, closed and deleted in its `after`.
 */

/** Reconnect at once and often, never give up, log nothing: the specs count on quick recovery. */
export function specTransportOptions(overrides: Partial<TransportOptions> = {}): TransportOptions {
  return {
    heartbeatSeconds: 30,
    confirmTimeoutMs: 30_000,
    connectMaxRetries: null,
    connectInitialDelayMs: 50,
    connectMaxDelayMs: 500,
    logger: silentLogger(),
    ...overrides,
  };
}

interface Closable {
  close(): Promise<void>;
}

/** Queues and exchanges a spec file declared (by name) and what it opened, released in `after`. */
export class SpecResources {
  readonly created: { queues: string[]; exchanges: string[] } = { queues: [], exchanges: [] };
  readonly #open: Closable[] = [];

  /** `prefix` starts every queue name: `${prefix}.${label}.<random>`. */
  constructor(private readonly prefix: string) {}

  /** A queue name of this file's own, deleted by `release()`. */
  queueName(label: string): string {
    const name = `${this.prefix}.${label}.${randomUUID().slice(0, 8)}`;
    this.created.queues.push(name);
    return name;
  }

  /** Closes `thing` in `release()` (closing twice is fine for transports and proxies). */
  track<T extends Closable>(thing: T): T {
    this.#open.push(thing);
    return thing;
  }

  /** Closes what was tracked, in order, then deletes what was created. */
  async release(): Promise<void> {
    for (const thing of this.#open) await thing.close();
    await deleteCreated(this.created);
  }
}
