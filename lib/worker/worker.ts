import { EventEmitter } from 'node:events';
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'winston';
import type { App } from '../app/app.js';
import { positiveInteger } from '../app/config.js';
import { deadLetterDeclaration, deadLettersToQueue, isQuorumQueue, queueDeclaration } from '../app/queues.js';
import type { ConsumerHandle, Delivery } from '../broker/transport.js';
import { checkWorkflowOf } from '../canvas/embed-check.js';
import { ConfigError, InvalidMessageError } from '../errors/errors.js';
import { LevelGate } from '../log/level-gate.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { preview } from '../util/preview.js';
import { deadLetter } from './dead-letter.js';
import { setLongTimeout } from '../util/long-timeout.js';
import { errorMessageText, errorText, MAX_DEAD_LETTER_ERROR_CHARS } from '../util/truncate.js';
import { EtaScheduler, HOLD_LIMIT_MS } from './eta-scheduler.js';
import { createPool } from './pool/create-pool.js';
import type { TaskPool } from './pool/pool.js';
import { parseRate, RateLimiter } from './rate-limiter.js';
import { Suspects } from './suspects.js';
import { TaskRequest, type RequestEnvironment, type RequestOutcome } from './request.js';
import { ArrayMap, ArraySet } from '../util/array-collections.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/compression.js';

export interface WorkerOptions {
  /** Most tasks running at once. Default: the app's `concurrency` (number of CPUs). */
  concurrency?: number;
  /** Prefetch = concurrency × this. Default: the app's `prefetchMultiplier` (4). */
  prefetchMultiplier?: number;
  /** Queues to consume. Default: [app.defaultQueue]. */
  queues?: string[];
  /** Node name; %h = host name, %n = host name up to the first dot, %d = domain. Default 'celeriac@%h'. */
  hostname?: string;
  /** How long stop() lets running tasks finish before aborting them and requeueing their messages. Default '30s'. */
  shutdownTimeout?: Duration;
  /**
   * Pauses between attempts to store a task's outcome when the result backend fails; after the
   * last one the message is requeued (not acked). Default ['200ms', '1s', '3s'].
   */
  resultStoreRetryDelays?: Duration[];
  /** A logger to use instead of the app's. */
  logger?: Logger;
  /**
   * Where tasks run: 'async' (default; the worker's event loop) or 'threads' (worker_threads;
   * a hard time limit terminates the thread). See docs/tasks.md.
   */
  pool?: 'async' | 'threads';
  /** For the threads pool: the module (path or URL) exporting this app, imported by every thread. */
  appModule?: string;
  /**
   * Poison-message limit: how many times a task may start again on a redelivered message (its
   * previous holder died, hung past the heartbeat or lost its connection before settling it)
   * before it is dead-lettered with reason `redelivery-limit` instead. Counted per task id in
   * the result backend (redis://, memory://; not rpc://); see docs/reliability.md. On a quorum
   * queue the broker's `x-delivery-count` is used instead (no backend needed): a delivery whose
   * count exceeds this is dead-lettered. Default 10; null: no limit.
   */
  maxRedeliveries?: number | null;
  /** Bodies larger than this many bytes are dead-lettered (reason `too-large`) without decoding. Default 64 MiB; null: no limit. */
  maxMessageSize?: number | null;
}

const WORKER_OPTION_KEYS = ['concurrency', 'prefetchMultiplier', 'queues', 'hostname', 'shutdownTimeout', 'resultStoreRetryDelays', 'logger', 'pool', 'appModule', 'maxRedeliveries', 'maxMessageSize'];

export { HOLD_LIMIT_MS };

/** Events a Worker emits (for embedding, metrics and specs). */
export interface WorkerEvents {
  'task-received': [request: TaskRequest];
  /** Its code is about to run (a concurrency slot was taken). */
  'task-started': [request: TaskRequest];
  'task-done': [request: TaskRequest, outcome: RequestOutcome];
  'dead-lettered': [delivery: Delivery, reason: string, error: string];
  /** A message that arrived long before its ETA went back into the delay tiers. */
  'task-deferred': [request: TaskRequest, delayMs: number];
}

/**
 * Consumes task messages and runs them.
 *
 * Invariants:
 * - at most `concurrency` tasks run at once; the broker hands out at most
 *   concurrency × prefetchMultiplier unsettled messages per queue, the rest wait in the queue;
 * - a message is acked only after its outcome is recorded (acks late; see TaskRequest);
 * - a message that is not a runnable task goes to `<queue>.dead-letter` with the reason;
 * - no message is held unacked for long: one due more than HOLD_LIMIT_MS ahead goes back into
 *   the broker's delay tiers (acked once the copy is confirmed), nearer ones wait on a timer;
 *   neither takes a concurrency slot (EtaScheduler);
 * - a rate-limited task waits without a concurrency slot and without blocking other tasks;
 * - stop(): no new deliveries; waiting messages are requeued at once; running tasks get up
 *   to `shutdownTimeout` to finish, then are aborted and their messages requeued.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly concurrency: number;
  readonly prefetch: number;
  readonly queues: readonly string[];
  readonly hostname: string;
  readonly logger: Logger;
  /** Whether per-task info lines are written (asked per task; see LevelGate). */
  readonly #info: LevelGate;
  readonly shutdownTimeoutMs: number;
  readonly maxRedeliveries: number | null;
  readonly maxMessageSize: number | null;
  readonly #environment: RequestEnvironment;
  /** Ready to run, in arrival order. */
  readonly #waiting: TaskRequest[] = [];
  /** Waiting for their ETA. */
  readonly #scheduled: EtaScheduler;
  /** Every request from start to settled (its outcome recorded and acked, or requeued). */
  readonly #running = new ArrayMap<TaskRequest, Promise<void>>();
  /** Requests whose task code is running: at most `concurrency`. */
  readonly #executing = new ArraySet<TaskRequest>();
  readonly #limiter: RateLimiter;
  /** Wakes pump() when the earliest rate-limited task may start. */
  #rateTimer: NodeJS.Timeout | undefined;
  readonly pool: TaskPool;
  /** One consumer per queue, so remote control can add and cancel queues one by one. */
  readonly #consumers = new Map<string, ConsumerHandle>();
  /**
   * Hook for remote control: a task whose id this returns true for is not run; it is recorded
   * REVOKED when its turn comes (lib/control sets it from the revocations it knows).
   */
  isRevoked: (taskId: string) => boolean = () => false;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  /** Redelivered requests that ran when some worker died: they run one at a time, beside healthy work (see Suspects). */
  readonly #suspects = new Suspects<TaskRequest>();

  constructor(
    readonly app: App,
    options: WorkerOptions = {},
  ) {
    super();
    for (const key of Object.keys(options)) {
      if (!WORKER_OPTION_KEYS.includes(key)) throw new ConfigError(key, `unknown worker option; known: ${WORKER_OPTION_KEYS.join(', ')}`);
    }
    this.concurrency = positiveInteger('concurrency', options.concurrency ?? app.config.concurrency);
    this.prefetch = this.concurrency * positiveInteger('prefetchMultiplier', options.prefetchMultiplier ?? app.config.prefetchMultiplier);
    this.queues = options.queues?.length ? [...options.queues] : [app.config.defaultQueue];
    this.hostname = expandHostname(options.hostname ?? 'celeriac@%h');
    this.shutdownTimeoutMs = toMilliseconds(options.shutdownTimeout ?? '30s', 'shutdownTimeout');
    this.maxRedeliveries = options.maxRedeliveries === null ? null : nonNegativeInteger('maxRedeliveries', options.maxRedeliveries ?? 10);
    this.maxMessageSize = options.maxMessageSize === null ? null : positiveInteger('maxMessageSize', options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES);
    this.logger = (options.logger ?? app.logger).child({ worker: this.hostname });
    this.#info = new LevelGate(this.logger, 'info');
    this.#limiter = new RateLimiter((name) => {
      const rate = app.tasks.get(name)?.options.rateLimit;
      return rate === undefined ? undefined : parseRate(rate);
    });
    this.#scheduled = new EtaScheduler(app, this.logger, {
      due: (request) => this.enqueue(request),
      isRunning: () => this.#state === 'running',
      deferred: (request, delayMs) => this.emit('task-deferred', request, delayMs),
    });
    this.pool = createPool(options.pool ?? 'async', { size: this.concurrency, appModule: options.appModule, logger: this.logger });
    this.#environment = {
      pool: this.pool,
      app,
      hostname: this.hostname,
      logger: this.logger,
      isRevoked: (taskId) => this.isRevoked(taskId),
      storeRetryDelaysMs: (options.resultStoreRetryDelays ?? ['200ms', '1s', '3s']).map((d) => toMilliseconds(d, 'resultStoreRetryDelays')),
    };
  }

  /** Declares the queues and starts consuming. Resolves once consuming. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ConfigError('worker', `cannot start a worker that is ${this.#state}`);
    this.#state = 'running';
    const transport = this.app.transport;
    try {
      for (const queue of this.queues) await this.addConsumer(queue);
    } catch (error) {
      this.#state = 'stopped';
      throw error;
    }
    this.logger.info(
      `${this.hostname} ready: queues ${this.queues.join(', ')}; concurrency ${this.concurrency}; prefetch ${this.prefetch}; broker ${transport.url}; tasks ${[...this.app.tasks.keys()].join(', ') || '(none)'}; pool ${this.pool.kind}`,
    );
  }

  /** Starts consuming one more queue (declared first). Idempotent. */
  async addConsumer(queue: string): Promise<void> {
    if (this.#consumers.has(queue)) return;
    const declaration = queueDeclaration(queue, this.app.config);
    // A quorum queue with a delivery limit dead-letters into Q.dead-letter: it must exist first.
    if (deadLettersToQueue(declaration)) await this.app.transport.declareQueue(deadLetterDeclaration(queue));
    await this.app.transport.declareQueue(declaration);
    this.#consumers.set(queue, await this.app.transport.consume([queue], { prefetch: this.prefetch }, (d) => this.onDelivery(d)));
  }

  /** Stops consuming a queue; deliveries already taken from it still run. Returns false if not consumed. */
  async cancelConsumer(queue: string): Promise<boolean> {
    const consumer = this.#consumers.get(queue);
    if (!consumer) return false;
    this.#consumers.delete(queue);
    await consumer.cancel();
    return true;
  }

  /** The queues consumed now (after add/cancel consumer). */
  get consuming(): string[] {
    return [...this.#consumers.keys()];
  }

  /** Requests by stage, for inspection: code running, ready to run, waiting for their ETA. */
  requests(): { active: TaskRequest[]; reserved: TaskRequest[]; scheduled: TaskRequest[] } {
    return { active: [...this.#executing], reserved: [...this.#waiting], scheduled: this.#scheduled.held };
  }

  /** Deliveries taken from the broker and not yet settled (prefetch in use). */
  get unsettled(): number {
    return this.#running.size + this.#waiting.length + this.#scheduled.size;
  }

  /**
   * Gives up the running task with this id: its signal is aborted (the threads pool terminates
   * its thread) and it is recorded REVOKED. Returns false when no such task runs here.
   */
  terminate(taskId: string): boolean {
    let found = false;
    for (const request of this.#running.keys()) {
      if (request.id === taskId) {
        request.terminate();
        found = true;
      }
    }
    return found;
  }

  /** Number of tasks whose code is running now. */
  get active(): number {
    return this.#executing.size;
  }

  /** Graceful stop; see the class comment. Idempotent; resolves when every delivery is settled. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'stopping') return this.drained();
    this.#state = 'stopping';
    this.logger.info(`${this.hostname} stopping: ${this.#running.size} running, ${this.#waiting.length + this.#scheduled.size} waiting (requeued)`);
    const consumers = [...this.#consumers.values()];
    this.#consumers.clear();
    await Promise.all(consumers.map((c) => c.cancel().catch((error: Error) => this.logger.warn(`cancelling the consumer failed: ${error.message}`))));
    for (const request of this.#waiting.splice(0)) request.delivery.reject(true);
    this.#scheduled.requeueAll();
    clearTimeout(this.#rateTimer);
    const finished = await Promise.race([
      this.drained().then(() => true),
      new Promise<false>((resolve) => setLongTimeout(() => resolve(false), this.shutdownTimeoutMs).unref()),
    ]);
    if (!finished) {
      this.logger.warn(`${this.hostname}: ${this.#running.size} task(s) still running after ${this.shutdownTimeoutMs} ms; aborting them and requeueing their messages`);
      for (const request of this.#running.keys()) {
        request.abort.abort(new Error('worker shutdown'));
        request.delivery.reject(true);
      }
    }
    await this.pool.close().catch((error: Error) => this.logger.warn(`closing the pool failed: ${error.message}`));
    this.#state = 'stopped';
    this.logger.info(`${this.hostname} stopped`);
  }

  private async drained(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  private onDelivery(delivery: Delivery): void {
    if (this.#state !== 'running') {
      delivery.reject(true);
      return;
    }
    if (this.maxMessageSize !== null && delivery.body.length > this.maxMessageSize) {
      this.reject(delivery, new Error(`body of ${delivery.body.length} bytes exceeds the worker's maxMessageSize of ${this.maxMessageSize} bytes`), 'too-large');
      return;
    }
    let request: TaskRequest;
    try {
      const message = decodeTaskMessage(delivery.body, delivery.properties, this.app.config.accept, { maxBodyBytes: this.maxMessageSize });
      const task = this.app.tasks.get(message.headers.task);
      if (!task) throw new InvalidMessageError('unknown-task', `task "${message.headers.task}" is not registered on this worker`);
      // Before the body can run: an embed that could never be sent makes its outcome impossible to pass on.
      checkWorkflowOf(message);
      request = new TaskRequest(delivery, message, task);
    } catch (error) {
      this.reject(delivery, error);
      return;
    }
    if (this.#info.enabled) this.logger.info(`Task ${request.name}[${request.id}] received`);
    this.emit('task-received', request);
    const brokerCount = this.brokerDeliveryCount(delivery);
    if (brokerCount !== undefined && this.maxRedeliveries !== null && brokerCount > this.maxRedeliveries) {
      const error = `delivered ${brokerCount + 1} times (delivery count ${brokerCount}, limit ${this.maxRedeliveries}): every worker that took it died, hung, lost its connection or returned it`;
      this.reject(delivery, new Error(error), 'redelivery-limit');
      return;
    }
    if (!this.countsStarts(request)) {
      this.dispatch(request);
      return;
    }
    void this.redeliveredStarts(request, 0).then((prior) => {
      if (prior > 0) this.#suspects.add(request, prior);
      if (this.#state === 'running') this.dispatch(request);
      else request.delivery.reject(true);
    });
  }

  private dispatch(request: TaskRequest): void {
    const delay = request.delayMs();
    if (delay > 0) this.#scheduled.schedule(request, delay);
    else this.enqueue(request);
  }

  private enqueue(request: TaskRequest): void {
    this.#waiting.push(request);
    this.pump();
  }

  private pump(): void {
    while (this.#state === 'running' && this.#executing.size < this.concurrency && this.#waiting.length > 0) {
      // The first waiting request that may start now; the others keep their place. A suspect may
      // only when it is the one the free suspect slot goes to.
      const now = Date.now();
      const suspect = this.#suspects.next(this.#waiting);
      const eligible = (r: TaskRequest): boolean => r === suspect || !this.#suspects.has(r);
      const index = this.#waiting.findIndex((r) => eligible(r) && this.#limiter.take(r.name, now));
      if (index < 0) {
        this.wakeForRateLimit(now, this.#waiting.filter(eligible));
        return;
      }
      const [request] = this.#waiting.splice(index, 1) as [TaskRequest];
      // The slot is freed when the code finishes; recording and acking go on beside the next task
      // (bounded by the prefetch: those messages are still unacked).
      this.#executing.add(request);
      if (request === suspect) this.#suspects.started(request);
      void request.codeFinished.then(() => {
        this.#executing.delete(request);
        this.#suspects.finished(request);
        this.pump();
      });
      this.emit('task-started', request);
      this.#running.set(request, this.runStarted(request));
    }
  }

  /** Runs a started request to its end (admission, execution, done); never rejects. */
  private async runStarted(request: TaskRequest): Promise<void> {
    try {
      if (this.countsStarts(request) && !(await this.admit(request))) return;
      this.done(request, await request.execute(this.#environment));
    } catch (error) {
      // execute() records failures itself; reaching here is a bug, so keep the message.
      this.logger.error(`Task ${request.name}[${request.id}] crashed the request handler: ${(error as Error)?.stack ?? error}`);
      request.delivery.reject(true);
    } finally {
      this.#running.delete(request);
      this.#suspects.finished(request);
      if (this.#executing.delete(request)) this.pump();
    }
  }

  /**
   * The poison-message limit, checked as a redelivered message is about to start (only when
   * countsStarts(request)): counts the start in the result backend and past `maxRedeliveries`
   * dead-letters the message instead (resolves false). Starts are counted, not deliveries, and
   * no two suspects run together (see Suspects), so tasks that merely ran beside a task that
   * kills its worker are not blamed for it again and again. The count never blocks work: if it
   * fails, the task runs.
   */
  private async admit(request: TaskRequest): Promise<boolean> {
    const limit = this.maxRedeliveries!;
    const starts = await this.redeliveredStarts(request, 1);
    if (starts <= limit) return true;
    this.reject(request.delivery, new Error(`started ${starts} times on redelivered messages (limit ${limit}): every worker running it died, hung or lost its connection`), 'redelivery-limit');
    return false;
  }

  /**
   * Whether the limit counts this request's starts in the backend: a redelivered message, with
   * a backend that counts, unless the broker counts its deliveries itself (quorum queues).
   */
  private countsStarts(request: TaskRequest): boolean {
    return (
      this.maxRedeliveries !== null &&
      request.delivery.redelivered &&
      this.brokerDeliveryCount(request.delivery) === undefined &&
      this.app.hasBackend &&
      this.app.backend.countRedeliveredStarts !== undefined
    );
  }

  /**
   * The broker's count of earlier deliveries of this message (Delivery.deliveryCount), or
   * undefined when the delivery's queue is not a quorum queue of this app.
   */
  private brokerDeliveryCount(delivery: Delivery): number | undefined {
    if (!isQuorumQueue(delivery.queue, this.app.config)) return undefined;
    return delivery.deliveryCount;
  }

  /** Adds `add` to the task's count of redelivered starts and resolves with it; 0 when the backend fails. */
  private async redeliveredStarts(request: TaskRequest, add: 0 | 1): Promise<number> {
    try {
      return await this.app.backend.countRedeliveredStarts!(request.id, add);
    } catch (error) {
      this.logger.warn(`Task ${request.name}[${request.id}] redelivered; its start count is unavailable (${(error as Error).message}); running it`);
      return 0;
    }
  }

  /** Sets the timer that wakes pump() when the first of `blocked` (rate limited now) may start; none when empty. */
  private wakeForRateLimit(now: number, blocked: readonly TaskRequest[]): void {
    if (blocked.length === 0) return;
    const waitMs = Math.min(...blocked.map((r) => this.#limiter.waitMs(r.name, now)));
    clearTimeout(this.#rateTimer);
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      this.pump();
    }, Math.max(1, waitMs));
  }

  private done(request: TaskRequest, outcome: RequestOutcome): void {
    const prefix = `Task ${request.name}[${request.id}]`;
    // Info lines are guarded: winston formats a line before its transports drop it by level.
    switch (outcome.state) {
      case 'SUCCESS':
        if (this.#info.enabled) this.logger.info(`${prefix} succeeded in ${(outcome.runtimeMs / 1000).toFixed(6)}s: ${preview(outcome.result, 200)}`);
        break;
      case 'FAILURE':
        this.logger.error(`${prefix} raised unexpected: ${errorText(outcome.error)}`);
        break;
      case 'RETRY':
        this.logger.info(`${prefix} retry in ${outcome.delayMs} ms: ${errorText(outcome.error)}`);
        break;
      case 'REVOKED':
      case 'REQUEUED':
        break;
    }
    // Its error line was written when it was dead-lettered (TaskRequest).
    if (outcome.deadLettered) this.emit('dead-lettered', request.delivery, outcome.deadLettered.reason, outcome.deadLettered.error);
    this.emit('task-done', request, outcome);
  }

  private reject(delivery: Delivery, error: unknown, reason: string = error instanceof InvalidMessageError ? error.reason : 'decode'): void {
    const text = errorMessageText(error, MAX_DEAD_LETTER_ERROR_CHARS);
    const id = delivery.properties.correlationId ?? '?';
    this.logger.error(`Message ${id} from ${delivery.queue} dead-lettered (${reason}): ${text}`);
    void deadLetter(this.app.transport, delivery, reason, text).then((moved) => {
      if (moved) this.emit('dead-lettered', delivery, reason, text);
      else this.logger.error(`Message ${id} could not be dead-lettered; requeued`);
    });
  }
}

function nonNegativeInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(option, `must be a non-negative integer, got ${value}`);
  return value;
}

function expandHostname(pattern: string): string {
  const host = osHostname();
  const dot = host.indexOf('.');
  return pattern
    .replaceAll('%h', host)
    .replaceAll('%n', dot === -1 ? host : host.slice(0, dot))
    .replaceAll('%d', dot === -1 ? '' : host.slice(dot + 1));
}


