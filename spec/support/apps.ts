import { randomUUID } from 'node:crypto';
import { createApp, type App, type AppOptions } from '../../lib/index.js';
import type { Delivery, Transport } from '../../lib/broker/transport.js';

export const AMQP_URL = process.env.CELERIAC_SPEC_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.CELERIAC_SPEC_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A unique name for this test's queues and keys, so specs running side by side never meet. */
export function uniqueName(prefix: string): string {
  return `spec.${prefix}.${randomUUID().slice(0, 8)}`;
}

/** An app on a private memory:// broker and backend, with its own default queue. */
export function memoryApp(options: AppOptions = {}): App {
  const id = randomUUID().slice(0, 8);
  return createApp({
    broker: `memory://spec-${id}`,
    backend: `memory://spec-${id}`,
    defaultQueue: `spec.${id}`,
    logLevel: 'silent',
    ...options,
  });
}

/** An app on the real RabbitMQ and Redis, with its own default queue. */
export function realApp(options: AppOptions = {}): App {
  return createApp({
    broker: AMQP_URL,
    backend: REDIS_URL,
    defaultQueue: uniqueName('queue'),
    brokerConnectionMaxRetries: 3,
    logLevel: 'silent',
    ...options,
  });
}

/** Resolves with the first `count` deliveries from `queue` (acked), or rejects after `timeoutMs`. */
export async function takeMessages(transport: Transport, queue: string, count: number, timeoutMs = 10_000): Promise<Delivery[]> {
  await transport.declareQueue({ name: queue, durable: true });
  const taken: Delivery[] = [];
  let cancel: () => Promise<void> = async () => {};
  const done = new Promise<Delivery[]>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${taken.length} of ${count} messages arrived on ${queue} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    void transport
      .consume([queue], { prefetch: count }, (delivery) => {
        delivery.ack();
        taken.push(delivery);
        if (taken.length === count) {
          clearTimeout(timer);
          resolve(taken);
        }
      })
      .then((handle) => {
        cancel = () => handle.cancel();
      }, reject);
  });
  try {
    return await done;
  } finally {
    await cancel();
  }
}

/** A promise with its resolve function, for gating tasks in specs. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Deletes the app's default queue and its dead-letter queue (specs on a real broker call this
 * before closing, so runs do not leave queues behind). Errors are ignored: a queue may never
 * have been declared.
 */
export async function removeAppQueues(app: App): Promise<void> {
  const queue = app.config.defaultQueue;
  for (const name of [queue, `${queue}.dead-letter`]) await app.transport.deleteQueue(name).catch(() => undefined);
}
