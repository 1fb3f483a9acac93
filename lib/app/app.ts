import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import { createBackend } from '../backends/registry.js';
import type { ResultBackend } from '../backends/result-backend.js';
import { createTransport } from '../broker/registry.js';
import type { Transport, TransportOptions } from '../broker/transport.js';
import { ClosedError, ConfigError } from '../errors/errors.js';
import { createLogger } from '../log/logger.js';
import { AsyncResult } from '../result/async-result.js';
import type { ResultHandle } from '../result/result-handle.js';
import type { BrokerEvents, WorkerHost } from '../worker/host.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { checkCallOptionKeys, type CallOptions } from '../canvas/call-options.js';
import { resolveConfig, type AppConfig, type AppOptions } from './config.js';
import { Producer } from './producer.js';
import type { MessageLineage } from '../canvas/call-options.js';
import { DelayedDelivery } from './delayed-delivery.js';
import { queueDeclaration } from './queues.js';
import { checkTaskOptions, Task, type TaskFunction, type TaskOptions } from './task.js';
import { newId } from '../util/ids.js';

export type AppEvents = BrokerEvents;

/**
 * The entry point of a celeriac program: configuration, the task registry, and the lazily
 * opened broker and backend connections shared by producers and workers of this process.
 *
 * Invariant: constructing an App does no I/O. The transport and backend objects are created
 * on first use and connect on their first operation, so a tasks module can be imported by
 * producers, workers and worker threads alike.
 */
export class App implements WorkerHost {
  readonly config: AppConfig;
  readonly logger: Logger;
  /** Stable id of this process's app; the reply_to of every message it sends. */
  readonly oid: string = newId();
  readonly tasks = new Map<string, Task<never[]>>();
  /** `broker-reconnected` (role 'publish' | 'consume'): a lost broker connection was replaced. */
  readonly events = new EventEmitter<AppEvents>();
  readonly producer: Producer;
  /** Sends messages through the broker's delay tiers (countdown, eta, retries). */
  readonly delayedDelivery: DelayedDelivery;
  #transport: Transport | undefined;
  #backend: ResultBackend | undefined;
  /** The backend getter every AsyncResult of this app shares (one closure, not one per result). */
  readonly #backendOf = (): ResultBackend => this.backend;
  #closed = false;

  constructor(options: AppOptions = {}) {
    this.config = resolveConfig(options);
    this.logger = this.config.logger ?? createLogger({ level: this.config.logLevel, name: this.config.name });
    this.delayedDelivery = new DelayedDelivery(
      () => this.transport,
      (queue) => queueDeclaration(queue, this.config),
      this.config.defaultQueueType,
    );
    this.producer = new Producer(this.config, () => this.transport, this.oid, this.delayedDelivery);
  }

  /** Registers a task. Names are global across services (and Python): use 'module.name' style. */
  task<A extends unknown[], R>(name: string, fn: TaskFunction<A, R>, options: TaskOptions = {}): Task<A, Awaited<R>> {
    if (typeof name !== 'string' || name === '') throw new ConfigError('name', 'a task needs a non-empty name');
    if (typeof fn !== 'function') throw new ConfigError('fn', `task ${name}: expected a function`);
    if (this.tasks.has(name)) throw new ConfigError('name', `task ${name} is already registered`);
    checkTaskOptions(name, options);
    // The task keeps its own copy of the options (and parses its rate limit once).
    const task = new Task<A, Awaited<R>>(this, name, fn as TaskFunction<A, Awaited<R>>, options);
    this.tasks.set(name, task as unknown as Task<never[]>);
    return task;
  }

  /**
   * Sends a task by name — for tasks defined elsewhere (another service, or Python).
   * Resolves once the broker confirmed the message.
   */
  sendTask<R = unknown>(
    name: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: CallOptions = {},
    lineage: MessageLineage = {},
  ): Promise<AsyncResult<R>> {
    const id = (options as CallOptions | null)?.taskId ?? newId();
    return this.publishTask(id, name, args, kwargs, options, lineage).then(() => this.asyncResult<R>(id));
  }

  /**
   * Sends a task under `id` (what delay() and sendTask() do once the id is chosen); resolves
   * once the broker confirmed the message. A bad call rejects; this never throws.
   */
  publishTask(
    id: string,
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    lineage: MessageLineage = {},
  ): Promise<void> {
    try {
      this.assertOpen();
      checkCallOptionKeys(options, 'call');
      const taskOptions = this.tasks.get(name)?.options;
      const preparing = this.hasBackend && !(options.ignoreResult ?? taskOptions?.ignoreResult) ? this.backend.prepareForResults?.() : null;
      if (preparing) {
        // The first sends of a process (rpc://): the message is built once the reply queue is
        // ready, so a copy of the args is what it carries.
        const copied = [...args];
        return preparing.then(() => this.producer.send(id, name, copied, kwargs, options, taskOptions, lineage));
      }
      return this.producer.send(id, name, args, kwargs, options, taskOptions, lineage);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A handle on the result of a task id (e.g. one stored by another process). */
  asyncResult<R = unknown>(id: string, parent: ResultHandle | null = null): AsyncResult<R> {
    return new AsyncResult<R>(id, this.#backendOf, parent);
  }

  /** A worker serving this app's tasks; call `start()` on it. Its `app` is this app. */
  worker(options: WorkerOptions = {}): Worker<App> {
    this.assertOpen();
    return new Worker<App>(this, options);
  }

  /** The broker connection, created on first use. */
  get transport(): Transport {
    this.assertOpen();
    this.#transport ??= createTransport(this.config.broker, this.transportOptions());
    return this.#transport;
  }

  private transportOptions(): TransportOptions {
    return {
      heartbeatSeconds: this.config.heartbeatSeconds,
      maxFrameSize: this.config.brokerMaxFrameSize,
      confirmTimeoutMs: this.config.confirmTimeoutMs,
      maxUnconfirmedPublishes: this.config.maxUnconfirmedPublishes,
      connectMaxRetries: this.config.brokerConnectionMaxRetries,
      connectInitialDelayMs: 200,
      connectMaxDelayMs: this.config.brokerConnectionMaxDelayMs,
      failoverStrategy: this.config.brokerFailover,
      logger: this.logger,
      onReconnect: (role) => this.events.emit('broker-reconnected', role),
      tls: this.config.brokerTls,
    };
  }

  /** True when a result backend is configured. */
  get hasBackend(): boolean {
    return this.config.backend !== null;
  }

  /** The result backend, created on first use. Throws ConfigError when none is configured. */
  get backend(): ResultBackend {
    this.assertOpen();
    if (this.config.backend === null) {
      throw new ConfigError(
        'backend',
        'no result backend configured: pass createApp({ backend: "redis://..." }) or set CELERIAC_RESULT_BACKEND',
      );
    }
    this.#backend ??= createBackend(this.config.backend, {
      resultExpiresMs: this.config.resultExpiresMs,
      logger: this.logger,
      queueType: this.config.defaultQueueType,
      clientId: this.oid,
      brokerTransport: () => this.transport,
      transportOptions: this.transportOptions(),
      tls: this.config.backendTls,
      connection: this.config.resultBackendTransportOptions,
      waitForReplicas: this.config.resultBackendWaitForReplicas,
    });
    return this.#backend;
  }

  /** Closes the backend, then the broker connection (an rpc:// backend still uses it while closing). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#backend?.close();
    await this.#transport?.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  private assertOpen(): void {
    if (this.#closed) throw new ClosedError(`app ${this.config.name} is closed`);
  }
}

/** Creates an app. Does no I/O; see App. */
export function createApp(options: AppOptions = {}): App {
  return new App(options);
}
