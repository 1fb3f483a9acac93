import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import { deadLetterDeclaration, deadLettersToQueue, queueDeclaration } from '../app/queues.js';
import type { Delivery } from '../broker/transport.js';
import { ConfigError, InvalidMessageError } from '../errors/errors.js';
import { ArrayMap, ArraySet } from '../util/array-collections.js';
import { MAX_TIMER_DELAY_MS, setLongTimeout } from '../util/long-timeout.js';
import { errorMessageText, MAX_DEAD_LETTER_ERROR_CHARS } from '../util/truncate.js';
import { Capacity } from './capacity.js';
import { ChildLimits } from './child-limits.js';
import { deadLetter } from './dead-letter.js';
import { EtaScheduler, HOLD_LIMIT_MS } from './eta-scheduler.js';
import type { WorkerEvents } from './events.js';
import type { WorkerHost } from './host.js';
import { resolveWorkerOptions, type WorkerOptions } from './options.js';
import { createPool } from './pool/create-pool.js';
import type { TaskPool } from './pool/pool.js';
import type { QueueConsumers } from './queue-consumers.js';
import { RateLimiter } from './rate-limiter.js';
import { RedeliveryPolicy } from './redelivery-policy.js';
import { TaskRequest, type RequestEnvironment, type RequestOutcome } from './request.js';
import { DeliveryStrategy } from './strategy.js';
import { logTaskLines } from './task-log.js';
import type { TimeLimits } from './time-limits.js';

export type { WorkerEvents } from './events.js';
export type { WorkerHost } from './host.js';
export type { WorkerOptions } from './options.js';
export { HOLD_LIMIT_MS };

/**
 * Consumes task messages and runs them. The worker keeps the consumers' lifecycle and the pump
 * that starts ready requests; admitting a delivery is its DeliveryStrategy's, the poison-message
 * limit its RedeliveryPolicy's, and its per-task log lines a listener on its events (task-log).
 * It uses only its host (WorkerHost): `app.worker()` builds one on an App.
 *
 * Invariants:
 * - at most `concurrency` tasks run at once; the broker hands out at most `prefetch` unsettled
 *   messages per queue, the rest wait in the queue (how both change: capacity.ts);
 * - a message is acked only after its outcome is recorded (acks late; see TaskRequest);
 * - a message that is not a runnable task goes to `<queue>.dead-letter` with the reason;
 * - no message is held unacked for long: one due more than HOLD_LIMIT_MS ahead goes back into
 *   the broker's delay tiers (acked once the copy is confirmed), nearer ones wait on a timer;
 *   neither takes a concurrency slot (EtaScheduler);
 * - a rate-limited task waits without a concurrency slot and without blocking other tasks;
 * - stop(): no new deliveries; waiting messages are requeued at once; running tasks get up
 *   to `shutdownTimeout` to finish, then are aborted and their messages requeued;
 * - async pool with maxTasksPerChild/maxMemoryPerChild: the worker is the child, past a limit after a task it emits `recycle` and stops.
 */
export class Worker<Host extends WorkerHost = WorkerHost> extends EventEmitter<WorkerEvents> {
  readonly queues: readonly string[];
  readonly hostname: string;
  readonly logger: Logger;
  readonly shutdownTimeoutMs: number;
  readonly maxRedeliveries: number | null;
  readonly maxMessageSize: number | null;
  /** Limits of tasks without their own (`--time-limit`, `--soft-time-limit`). */
  readonly defaultTimeLimits: TimeLimits;
  /** Per-child limits: the threads pool's per thread; the async pool's (the worker as the child) in #ownLimits. */
  readonly childLimits: ChildLimits;
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
  readonly #consumers: QueueConsumers;
  /** Concurrency, prefetch and autoscaler (`capacity.autoscale(max, min)`: remote control's autoscale). */
  readonly capacity: Capacity;
  readonly #ownLimits: ChildLimits | null;
  /**
   * Hook for remote control: a task whose id this returns true for is not run; it is recorded
   * REVOKED when its turn comes (lib/control sets it from the revocations it knows).
   */
  isRevoked: (taskId: string) => boolean = () => false;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  /** The poison-message limit, and the suspects it keeps (they run one at a time, beside healthy work). */
  readonly #redelivery: RedeliveryPolicy;
  readonly #strategy: DeliveryStrategy;

  constructor(
    /** What the worker serves: the App, for `app.worker()`. */
    readonly app: Host,
    options: WorkerOptions = {},
  ) {
    super();
    const settings = resolveWorkerOptions(options, app);
    this.queues = settings.queues;
    this.hostname = settings.hostname;
    this.shutdownTimeoutMs = settings.shutdownTimeoutMs;
    this.maxRedeliveries = settings.maxRedeliveries;
    this.maxMessageSize = settings.maxMessageSize;
    this.defaultTimeLimits = settings.defaultTimeLimits;
    this.childLimits = new ChildLimits(settings.maxTasksPerChild, settings.maxMemoryPerChild);
    this.logger = settings.logger;
    // First listener of its events: a task's line is written before other listeners of the same
    // event hear of it (a message dead-lettered after running is announced by `dead-lettered`
    // just before its `task-done`, which writes the outcome line).
    logTaskLines(this, this.logger);
    this.#limiter = new RateLimiter((name) => app.tasks.get(name)?.startsPerMs);
    this.#scheduled = new EtaScheduler(app, this.logger, {
      due: (request) => this.enqueue(request),
      isRunning: () => this.#state === 'running',
      deferred: (request, delayMs) => this.emit('task-deferred', request, delayMs),
    });
    this.#redelivery = new RedeliveryPolicy(app, this.maxRedeliveries, this.logger);
    this.#strategy = new DeliveryStrategy(app, this.maxMessageSize, this.#redelivery, this.#scheduled, {
      received: (request) => this.emit('task-received', request),
      ready: (request) => this.enqueue(request),
      isRunning: () => this.#state === 'running',
      refuse: (delivery, error, reason) => this.refuse(delivery, error, reason),
    });
    this.pool = createPool(settings.pool, {
      size: settings.concurrency,
      appModule: settings.appModule,
      logger: this.logger,
      threadLimits: { maxTasksPerThread: settings.maxTasksPerChild, maxHeapKiB: settings.maxMemoryPerChild },
    });
    this.#ownLimits = this.pool.kind === 'async' && !this.childLimits.unlimited ? this.childLimits : null;
    this.capacity = new Capacity(settings, {
      transport: () => app.transport,
      onDelivery: (d) => this.onDelivery(d),
      pool: this.pool,
      load: () => this.load,
      changed: () => this.pump(),
      logger: this.logger,
    });
    this.#consumers = this.capacity.consumers;
    this.#environment = {
      pool: this.pool,
      host: app,
      hostname: this.hostname,
      logger: this.logger,
      isRevoked: (taskId) => this.isRevoked(taskId),
      retrying: (request, error) => this.emit('task-retrying', request, error),
      storeRetryDelaysMs: settings.storeRetryDelaysMs,
      defaultTimeLimits: settings.defaultTimeLimits,
    };
  }

  /** Most unsettled deliveries per queue the broker hands this worker (see capacity.ts). */
  get prefetch(): number {
    return this.capacity.prefetch;
  }

  /** Requests taken and not finished: running, or ready and waiting for a slot (Celery's reserved requests). */
  get load(): number {
    return this.#executing.size + this.#waiting.length;
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
    this.capacity.start();
    this.logger.info(
      `${this.hostname} ready: queues ${this.queues.join(', ')}; ${this.capacity.describe()}; prefetch ${this.prefetch}; ` +
        `broker ${transport.url}; tasks ${[...this.app.tasks.keys()].join(', ') || '(none)'}; pool ${this.pool.kind}`,
    );
  }

  /** Starts consuming one more queue (declared first). Idempotent. */
  async addConsumer(queue: string): Promise<void> {
    if (this.#consumers.has(queue)) return;
    const declaration = queueDeclaration(queue, this.app.config);
    // A quorum queue with a delivery limit dead-letters into Q.dead-letter: it must exist first.
    if (deadLettersToQueue(declaration)) await this.app.transport.declareQueue(deadLetterDeclaration(queue, this.app.config));
    await this.app.transport.declareQueue(declaration);
    await this.#consumers.add(queue);
  }

  /** Stops consuming a queue; deliveries already taken from it still run. Returns false if not consumed. */
  cancelConsumer(queue: string): Promise<boolean> {
    return this.#consumers.cancel(queue);
  }

  /** The queues consumed now (after add/cancel consumer). */
  get consuming(): string[] {
    return this.#consumers.queues;
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
   * A task's rate limit changed (Task.setRateLimit): requests held back by the old rate are
   * looked at again now, so a faster rate or none starts them without waiting out the old spacing.
   */
  rateLimitsChanged(): void {
    clearTimeout(this.#rateTimer);
    this.#rateTimer = undefined;
    this.pump();
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

  /** Most tasks whose code runs at once (changed by setConcurrency and the autoscaler). */
  get concurrency(): number {
    return this.capacity.concurrency;
  }

  /**
   * Changes how many tasks may run at once (remote control's pool_grow / pool_shrink): a
   * positive integer; growing starts waiting tasks at once, shrinking lets running ones finish.
   * The prefetch follows, as Celery's; resolves once the broker applies it (capacity.ts).
   */
  setConcurrency(concurrency: number): Promise<void> {
    return this.capacity.setConcurrency(concurrency);
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
    this.logger.info(
      `${this.hostname} stopping: ${this.#running.size} running, ${this.#waiting.length + this.#scheduled.size} waiting (requeued)`,
    );
    this.capacity.stop();
    await this.#consumers.cancelAll();
    for (const request of this.#waiting.splice(0)) request.delivery.reject(true);
    this.#scheduled.requeueAll();
    clearTimeout(this.#rateTimer);
    const finished = await Promise.race([
      this.drained().then(() => true),
      new Promise<false>((resolve) => setLongTimeout(() => resolve(false), this.shutdownTimeoutMs).unref()),
    ]);
    if (!finished) {
      this.logger.warn(
        `${this.hostname}: ${this.#running.size} task(s) still running after ${this.shutdownTimeoutMs} ms; ` +
          'aborting them and requeueing their messages',
      );
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
    while (this.#running.size > 0) await Promise.allSettled(this.#running.values());
  }

  private onDelivery(delivery: Delivery): void {
    if (this.#state !== 'running') {
      delivery.reject(true);
      return;
    }
    this.#strategy.admit(delivery);
  }

  private enqueue(request: TaskRequest): void {
    this.#waiting.push(request);
    this.capacity.arrived();
    this.pump();
  }

  private pump(): void {
    const redelivery = this.#redelivery;
    while (this.#state === 'running' && this.#executing.size < this.concurrency && this.#waiting.length > 0) {
      // The first waiting request that may start now; the others keep their place. A suspect may
      // only when it is the one the free suspect slot goes to.
      const now = Date.now();
      const suspect = redelivery.nextSuspect(this.#waiting);
      const eligible = (r: TaskRequest): boolean => redelivery.mayStart(r, suspect);
      const index = this.#waiting.findIndex((r) => eligible(r) && this.#limiter.take(r.name, now));
      if (index < 0) {
        this.wakeForRateLimit(now, this.#waiting.filter(eligible));
        return;
      }
      const [request] = this.#waiting.splice(index, 1) as [TaskRequest];
      // The slot is freed when the code finishes; recording and acking go on beside the next task
      // (bounded by the prefetch: those messages are still unacked).
      this.#executing.add(request);
      if (request === suspect) redelivery.suspectStarted(request);
      void request.codeFinished.then(() => {
        this.#executing.delete(request);
        redelivery.finished(request);
        if (this.#ownLimits && request.ranCode) this.countOwnTask(this.#ownLimits);
        this.pump();
      });
      this.emit('task-started', request);
      this.#running.set(request, this.runStarted(request));
    }
  }

  /** Runs a started request to its end (the redelivery limit, execution, done); never rejects. */
  private async runStarted(request: TaskRequest): Promise<void> {
    try {
      if (this.#redelivery.countsStarts(request)) {
        const verdict = await this.#redelivery.startVerdict(request);
        if (verdict) {
          this.refuse(request.delivery, verdict.error, verdict.reason);
          return;
        }
      }
      this.done(request, await request.execute(this.#environment));
    } catch (error) {
      // execute() records failures itself; reaching here is a bug, so keep the message.
      this.logger.error(`Task ${request.name}[${request.id}] crashed the request handler: ${(error as Error)?.stack ?? String(error)}`);
      request.delivery.reject(true);
    } finally {
      this.#running.delete(request);
      this.#redelivery.finished(request);
      if (this.#executing.delete(request)) this.pump();
    }
  }

  /**
   * Sets the timer that wakes pump() when the first of `blocked` (rate limited now) may start;
   * none when empty. A wait past the longest timer wakes early and sets the timer again.
   */
  private wakeForRateLimit(now: number, blocked: readonly TaskRequest[]): void {
    if (blocked.length === 0) return;
    const waitMs = Math.min(...blocked.map((r) => this.#limiter.waitMs(r.name, now)));
    clearTimeout(this.#rateTimer);
    this.#rateTimer = setTimeout(
      () => {
        this.#rateTimer = undefined;
        this.pump();
      },
      Math.min(MAX_TIMER_DELAY_MS, Math.max(1, waitMs)),
    );
  }

  /** Tells the listeners (task-log writes the outcome's line); a dead-lettered message's error line was written by TaskRequest. */
  private done(request: TaskRequest, outcome: RequestOutcome): void {
    if (outcome.deadLettered) this.emit('dead-lettered', request.delivery, outcome.deadLettered.reason, outcome.deadLettered.error);
    this.emit('task-done', request, outcome);
  }

  /** Counts a task the worker itself ran (async pool); past a limit, stops before the next starts (see the class comment). */
  private countOwnTask(limits: ChildLimits): void {
    const due = limits.afterTask(() => process.memoryUsage.rss());
    if (due === null || this.#state !== 'running') return;
    this.logger.warn(`${this.hostname}: the worker ${due}: stopping, to be replaced by a fresh process`);
    this.emit('recycle', due);
    void this.stop();
  }

  /** Moves a delivery that must not run to its dead-letter queue (requeued if even that fails). */
  private refuse(
    delivery: Delivery,
    error: unknown,
    reason: string = error instanceof InvalidMessageError ? error.reason : 'decode',
  ): void {
    const text = errorMessageText(error, MAX_DEAD_LETTER_ERROR_CHARS);
    const id = delivery.properties.correlationId ?? '?';
    this.logger.error(`Message ${id} from ${delivery.queue} dead-lettered (${reason}): ${text}`);
    void deadLetter(this.app.transport, delivery, reason, text, this.app.config).then((moved) => {
      if (moved) this.emit('dead-lettered', delivery, reason, text);
      else this.logger.error(`Message ${id} could not be dead-lettered; requeued`);
    });
  }
}
