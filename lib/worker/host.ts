import type { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { AppConfig } from '../app/config.js';
import type { DelayedDelivery } from '../app/delayed-delivery.js';
import type { Task } from '../app/task.js';
import type { Transport } from '../broker/transport.js';
import type { CanvasHost } from '../canvas/canvas-node.js';

/** The configuration a worker reads: its defaults, what it decodes, how its queues are declared. */
export type WorkerConfig = Pick<
  AppConfig,
  'concurrency' | 'prefetchMultiplier' | 'defaultQueue' | 'accept' | 'queues' | 'queueMaxPriority' | 'defaultQueueType'
>;

/** Events about the broker connections of a host (metrics count the reconnects). */
export interface BrokerEvents {
  /** A lost broker connection was replaced. */
  'broker-reconnected': [role: 'publish' | 'consume'];
}

/**
 * Everything a Worker (and its requests, ETA scheduler and republishing) uses from what it
 * serves: an App satisfies it, and `app.worker()` builds a worker on the app; a unit spec may
 * hand a worker an object of its own. As a CanvasHost it sends the workflow a finished task
 * embeds (chain, callbacks, chord).
 *
 * Contract: `transport` and `backend` may be created on first use, but are the same objects
 * for the host's life; `backend` throws when `hasBackend` is false; `tasks` is the registry
 * the worker runs from, looked up by task name for every delivery.
 */
export interface WorkerHost extends CanvasHost {
  readonly config: Readonly<WorkerConfig>;
  /** The worker logs through a child of this one, unless its options give another logger. */
  readonly logger: Logger;
  /** The broker: queues consumed, messages republished and dead-lettered. */
  readonly transport: Transport;
  /** The broker's delay tiers: ETAs too far ahead to hold, and retries with a countdown. */
  readonly delayedDelivery: Pick<DelayedDelivery, 'publish'>;
  readonly tasks: ReadonlyMap<string, Task<never[]>>;
  readonly events: EventEmitter<BrokerEvents>;
}
