import type { Logger } from 'winston';
import { createTransport } from '../../broker/registry.js';
import type { ConsumerHandle, Delivery, QueueDeclaration, Transport } from '../../broker/transport.js';
import {
  BackendError,
  ClosedError,
  ConfigError,
  PublishError,
  ResultTimeoutError,
  SerializationError,
  TransportError,
} from '../../errors/errors.js';
import { celeryUtcNow } from '../../protocol/dates.js';
import { serializerForContentType, stringifyJson } from '../../protocol/serializers.js';
import { isReady, type TaskState } from '../../protocol/states.js';
import { redactUrl } from '../../util/url.js';
import { MAX_TIMER_DELAY_MS } from '../../util/long-timeout.js';
import { WaitDeadlines } from '../wait-deadlines.js';
import {
  mappedWait,
  pendingMeta,
  type BackendOptions,
  type ChordPart,
  type ChordPartOutcome,
  type ResultBackend,
  type StoreContext,
  type WaitOptions,
} from '../result-backend.js';
import type { TaskMeta } from '../../protocol/task-meta.js';
import { RpcChords } from './rpc-chords.js';
import { RpcResultBuffer } from './result-buffer.js';
import { newId } from '../../util/ids.js';

/** Header of the marker messages getMeta sends through its own reply queue. */
const SYNC_HEADER = 'x-celeriac-rpc-sync';

/**
 * `rpc://` — results travel back as messages, as with Celery's rpc backend: the worker
 * publishes each state to the default exchange with routing key = the task message's
 * `reply_to` and correlation id = task id; the client consumes one reply queue named by its
 * stable id (`app.oid`), declared like Celery declares it (not durable, auto-delete,
 * x-expires = result expiry) so Python workers and clients share it.
 *
 * `rpc://` uses the app's broker connection; `rpc://user:pass@host:port/vhost` opens its own
 * (to amqp://user:pass@host:port/vhost).
 *
 * What this cannot do, by design: read a result sent to another client (getMeta of a foreign
 * id is PENDING), survive the client's restart (a new process has a new reply queue), save
 * groups. Chords it does, with the counter kept in RabbitMQ (see rpc-chords.ts).
 */
export function createRpcBackend(url: string, options: BackendOptions): ResultBackend {
  return new RpcBackend(url, options);
}

interface Waiter {
  readonly taskId: string;
  readonly resolve: (meta: TaskMeta) => void;
  readonly reject: (error: unknown) => void;
  /** Its timeout length while it has a deadline (see WaitDeadlines), else undefined. */
  timeoutMs: number | undefined;
  cleanup: () => void;
}

class RpcBackend implements ResultBackend {
  readonly url: string;
  private readonly transport: () => Transport;
  private readonly ownTransport: Transport | undefined;
  private readonly replyQueue: QueueDeclaration;
  private readonly logger: Logger;
  private readonly resultExpiresMs: number;
  private readonly chords: RpcChords;
  private readonly results: RpcResultBuffer;
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** One timer per timeout length for all the waits with a timeout. */
  private readonly deadlines = new WaitDeadlines<Waiter>(
    (waiter) => this.waiters.get(waiter.taskId)?.has(waiter) ?? false,
    (waiter, timeoutMs) => {
      waiter.timeoutMs = undefined; // expired: nothing to release
      waiter.reject(new ResultTimeoutError(waiter.taskId, timeoutMs));
    },
  );
  private consuming: Promise<ConsumerHandle> | undefined;
  /** Set once `consuming` has resolved: the reply queue exists and is consumed (the consumer survives reconnects). */
  private consumerStarted = false;
  /** Sync markers in flight through the own reply queue (see getMeta). */
  private readonly markers = new Map<string, () => void>();
  private closed = false;

  constructor(url: string, options: BackendOptions) {
    this.url = redactUrl(url);
    this.logger = options.logger;
    this.resultExpiresMs = options.resultExpiresMs;
    this.results = new RpcResultBuffer(this.resultExpiresMs, this.logger);
    const brokerUrl = ownBrokerUrl(url);
    if (brokerUrl) {
      if (!options.transportOptions) throw new ConfigError('backend', 'rpc:// with its own broker URL needs transport options');
      const own = createTransport(brokerUrl, options.transportOptions);
      this.ownTransport = own;
      this.transport = () => own;
    } else if (options.brokerTransport) {
      this.transport = options.brokerTransport;
    } else {
      throw new ConfigError('backend', "rpc:// works through the app's broker; create it from an app");
    }
    this.replyQueue = replyQueueDeclaration(options.clientId ?? newId(), this.resultExpiresMs, false);
    this.chords = new RpcChords(this.transport, this.resultExpiresMs, this.logger, this.url, options.queueType ?? 'classic');
  }

  /** The reply queue must exist before a task is sent, or its result would be unroutable and dropped. */
  prepareForResults(): Promise<void> | null {
    return this.consumerStarted ? null : this.ensureConsuming().then(() => undefined);
  }

  /** Publishes the state to the client that sent the task; without a reply_to there is nobody to tell. */
  async storeResult(meta: TaskMeta, context: StoreContext): Promise<void> {
    this.assertOpen();
    if (!context.replyTo) {
      this.logger.warn(`result of task ${meta.task_id} not sent: its message has no reply_to (rpc:// delivers results to the sender only)`);
      return;
    }
    let body: string;
    try {
      body = stringifyJson({
        task_id: meta.task_id,
        status: meta.status,
        result: meta.result ?? null,
        traceback: meta.traceback ?? null,
        children: meta.children ?? [],
        date_done: meta.date_done ?? (isReady(meta.status) ? celeryUtcNow() : null),
        ...(meta.group_id ? { group_id: meta.group_id } : {}),
        ...(meta.parent_id ? { parent_id: meta.parent_id } : {}),
      });
    } catch (error) {
      throw new SerializationError(`result of task ${meta.task_id} is not JSON-serializable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // Published into the client's reply queue as it is, as Celery's workers do: never declared
    // first. The client declared it with its own result expiry; declaring it again with this
    // app's would be refused (precondition-failed) whenever the two differ. Only if it is
    // gone — the client lost its connection and the auto-delete queue went with it — is the
    // mandatory publish returned: then declare it (with this app's expiry) and publish into it,
    // so the client finds the result when it is back.
    const message = {
      body: Buffer.from(body),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      correlationId: meta.task_id,
      persistent: false,
    };
    try {
      await this.transport().publish(message, { exchange: '', routingKey: context.replyTo, mandatory: true });
    } catch (error) {
      if (!(error instanceof PublishError && error.reason === 'unroutable')) throw error;
      await this.recreateReplyQueue(context.replyTo);
      await this.transport().publish(message, { exchange: '', routingKey: context.replyTo, mandatory: false });
    }
  }

  /**
   * The latest state received for the id. First it waits until every result already in the
   * reply queue has arrived (a marker sent to itself comes back after them), so a result
   * confirmed before the call is seen, like Celery's rpc backend, which drains the queue.
   */
  async getMeta(taskId: string): Promise<TaskMeta> {
    this.assertOpen();
    await this.ensureConsuming();
    await this.sync();
    return this.results.read(taskId) ?? pendingMeta(taskId);
  }

  waitForReady<T = TaskMeta>(taskId: string, options: WaitOptions<T>): Promise<T> {
    return mappedWait(this.waitForMeta(taskId, options), options);
  }
  private async waitForMeta(taskId: string, options: WaitOptions<unknown>): Promise<TaskMeta> {
    this.assertOpen();
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw signal.reason;
    if (!this.consumerStarted) {
      // A send failing meanwhile is seen by the waiter below; until then it counts as observed.
      options.sending?.catch(() => undefined);
      await this.ensureConsuming();
    }
    // Closed or aborted while the consumer was starting: nothing would ever settle this wait.
    this.assertOpen();
    if (signal?.aborted) throw signal.reason;
    const known = this.results.read(taskId);
    if (known && isReady(known.status)) return known;
    return new Promise<TaskMeta>((resolve, reject) => {
      const waiters = this.waiters.get(taskId) ?? this.waiters.set(taskId, new Set()).get(taskId)!;
      const onAbort = (): void => settle(() => reject(signal!.reason));
      const waiter: Waiter = {
        taskId,
        resolve: (meta) => settle(() => resolve(meta)),
        reject: (error) => settle(() => reject(error)),
        timeoutMs: undefined,
        cleanup: () => {
          if (waiter.timeoutMs !== undefined) this.deadlines.release(waiter.timeoutMs);
          signal?.removeEventListener('abort', onAbort);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.waiters.get(taskId) === waiters) this.waiters.delete(taskId);
        },
      };
      const settle = (finish: () => void): void => {
        if (!waiters.has(waiter)) return;
        waiter.cleanup();
        finish();
      };
      waiters.add(waiter);
      if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_DELAY_MS) {
        waiter.timeoutMs = Math.max(0, timeoutMs);
        this.deadlines.add(waiter, waiter.timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      // A message never sent has no outcome to wait for (WaitOptions.sending).
      options.sending?.catch((error: unknown) => waiter.reject(error));
    });
  }

  async forget(taskId: string): Promise<void> {
    this.assertOpen();
    this.results.forget(taskId);
  }

  async saveGroup(): Promise<void> {
    throw this.noGroups();
  }

  async restoreGroup(): Promise<string[] | null> {
    throw this.noGroups();
  }

  async forgetGroup(): Promise<void> {
    throw this.noGroups();
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.assertOpen();
    await this.chords.setSize(groupId, size);
  }

  async chordPartReturn(part: ChordPart): Promise<ChordPartOutcome[] | null> {
    this.assertOpen();
    return this.chords.partReturn(part);
  }

  async chordDone(groupId: string): Promise<void> {
    this.assertOpen();
    await this.chords.done(groupId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new ClosedError(`result backend ${this.url} is closed`);
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.reject(error);
    const consumer = await this.consuming?.catch(() => undefined);
    await consumer?.cancel().catch(() => undefined);
    await this.ownTransport?.close();
  }

  private async sync(): Promise<void> {
    const marker = newId();
    const arrived = new Promise<void>((resolve) => this.markers.set(marker, resolve));
    try {
      await this.transport().publish(
        {
          body: Buffer.alloc(0),
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          headers: { [SYNC_HEADER]: marker },
          persistent: false,
        },
        { exchange: '', routingKey: this.replyQueue.name },
      );
      await arrived;
    } finally {
      this.markers.delete(marker);
    }
  }

  /**
   * Declares a client's vanished reply queue the way Celery does. If the client declared it
   * again meanwhile, with another expiry, the broker refuses (precondition-failed): then it exists, which is all
   * that is needed.
   */
  private async recreateReplyQueue(name: string): Promise<void> {
    try {
      await this.transport().declareQueue(replyQueueDeclaration(name, this.resultExpiresMs, true));
    } catch (error) {
      if (!(error instanceof TransportError && error.reason === 'precondition-failed')) throw error;
      this.logger.debug(`rpc:// reply queue ${name} exists again with other arguments: ${(error as Error).message}`);
    }
  }

  private ensureConsuming(): Promise<ConsumerHandle> {
    this.consuming ??= (async () => {
      const transport = this.transport();
      await transport.declareQueue(this.replyQueue);
      return transport.consume([this.replyQueue.name], { prefetch: 1000 }, (delivery) => this.onReply(delivery));
    })();
    this.consuming.then(
      () => (this.consumerStarted = true),
      () => (this.consuming = undefined),
    );
    return this.consuming;
  }

  private onReply(delivery: Delivery): void {
    delivery.ack();
    const marker = delivery.properties.headers?.[SYNC_HEADER];
    if (typeof marker === 'string') {
      this.markers.get(marker)?.();
      return;
    }
    let meta: TaskMeta;
    try {
      meta = this.decode(delivery);
    } catch (error) {
      this.logger.warn(`rpc:// reply ${delivery.properties.correlationId ?? '?'} ignored: ${(error as Error).message}`);
      return;
    }
    if (this.results.statusOf(meta.task_id) === 'SUCCESS') return; // a redelivered duplicate must not undo a success
    const waiters = isReady(meta.status) ? this.waiters.get(meta.task_id) : undefined;
    this.results.keep(meta, waiters !== undefined, (taskId) => this.waiters.has(taskId));
    for (const waiter of [...(waiters ?? [])]) waiter.resolve(structuredClone(meta));
  }

  private decode(delivery: Delivery): TaskMeta {
    const serializer = serializerForContentType(delivery.properties.contentType ?? 'application/json');
    if (!serializer) throw new Error(`unsupported content type ${delivery.properties.contentType}`);
    const value = serializer.decode(delivery.body) as Record<string, unknown>;
    const taskId = typeof value.task_id === 'string' ? value.task_id : delivery.properties.correlationId;
    if (typeof taskId !== 'string' || typeof value.status !== 'string') throw new Error('not a result message');
    const meta: TaskMeta = {
      status: value.status as TaskState,
      result: value.result ?? null,
      traceback: typeof value.traceback === 'string' ? value.traceback : null,
      children: Array.isArray(value.children) ? value.children : [],
      date_done: typeof value.date_done === 'string' ? value.date_done : null,
      task_id: taskId,
    };
    if (typeof value.group_id === 'string') meta.group_id = value.group_id;
    if (typeof value.parent_id === 'string') meta.parent_id = value.parent_id;
    return meta;
  }

  private noGroups(): BackendError {
    return new BackendError(
      this.url,
      'rpc:// cannot save groups: results live only in the reply queue of the client that sent the tasks; ' +
        'use redis:// for GroupResult.save()',
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`result backend ${this.url} is closed`);
  }
}

/**
 * A reply queue exactly as Celery 5.2 declares it (`Queue(oid, durable=False, auto_delete=True,
 * expires=result_expires)`, expires in ms). Only its client declares it while it exists: RabbitMQ
 * refuses a re-declaration with other arguments, and clients' and workers' expiries may differ.
 */
function replyQueueDeclaration(name: string, resultExpiresMs: number, transient: boolean): QueueDeclaration {
  return {
    name,
    durable: false,
    autoDelete: true,
    transient,
    ...(resultExpiresMs > 0 ? { expires: resultExpiresMs } : {}),
  };
}

/** amqp://… for `rpc://user:pass@host/vhost`; null for plain `rpc://` (use the app's broker). */
function ownBrokerUrl(url: string): string | null {
  const rest = url.replace(/^rpc:\/\//i, '');
  return rest === '' || rest === '/' ? null : `amqp://${rest}`;
}
