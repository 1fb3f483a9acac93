import { loadavg } from 'node:os';
import type { Worker } from '../worker/worker.js';
import type { TaskRequest, RequestOutcome } from '../worker/request.js';
import { errorToExceptionInfo, tracebackOf } from '../protocol/exception-info.js';
import { EventDispatcher } from './dispatcher.js';
import { preview } from '../util/preview.js';
import { ConfigError } from '../errors/errors.js';

/** Celery's worker heartbeat interval (event_heartbeat... worker_heartbeat: 2 s). */
export const HEARTBEAT_SECONDS = 2;

export interface WorkerEventOptions {
  /** Send task-* events from the start (`celeriac worker -E`). Default true. */
  taskEvents?: boolean;
  /**
   * Seconds between worker-heartbeat events (Celery's `--heartbeat-interval`), default
   * HEARTBEAT_SECONDS; null: no worker-online / -heartbeat / -offline (`--without-heartbeat`).
   */
  heartbeatInterval?: number | null;
}

/**
 * Sends a worker's Celery events: worker-online / -heartbeat (every 2 s) / -offline, and
 * task-received / -started / -succeeded / -failed / -retried / -revoked, with Celery's field
 * names. As Celery's worker, `celeriac worker` sends the worker-* ones unless
 * `--without-heartbeat`, and the task-* ones with `-E` or once remote control's enable_events
 * asks. Built only on the Worker's EventEmitter events.
 */
export class WorkerEventSender {
  readonly dispatcher: EventDispatcher;
  /** Whether task-* events are sent (remote control's enable_events / disable_events). */
  taskEvents: boolean;
  /** Seconds between worker-heartbeat events; null: no worker-online / -heartbeat / -offline. */
  readonly heartbeatInterval: number | null;
  #processed = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #onReceived = (request: TaskRequest): void => {
    const { headers, args, kwargs } = request.message;
    this.send('task-received', {
      uuid: request.id,
      name: request.name,
      args: headers.argsrepr ?? JSON.stringify(args),
      kwargs: headers.kwargsrepr ?? JSON.stringify(kwargs),
      root_id: headers.root_id,
      parent_id: headers.parent_id,
      retries: headers.retries,
      eta: headers.eta,
      expires: headers.expires,
    });
  };
  /**
   * Not for a request that will not run (revoked or expired: its code is not started, and Celery
   * sends no task-started for it): monitors would show a start time for a task that never ran.
   */
  readonly #onStarted = (request: TaskRequest): void => {
    if (this.worker.isRevoked(request.id) || request.isExpired()) return;
    this.send('task-started', { uuid: request.id, pid: process.pid });
  };
  readonly #onRetrying = (request: TaskRequest, error: unknown): void =>
    this.send('task-retried', { uuid: request.id, exception: describe(error), traceback: tracebackOf(error) });
  readonly #onDone = (request: TaskRequest, outcome: RequestOutcome): void => {
    this.#processed += 1;
    switch (outcome.state) {
      case 'SUCCESS':
        this.send('task-succeeded', { uuid: request.id, result: preview(outcome.result, 1024), runtime: outcome.runtimeMs / 1000 });
        break;
      case 'FAILURE':
        this.send('task-failed', { uuid: request.id, exception: describe(outcome.error), traceback: tracebackOf(outcome.error) });
        break;
      case 'RETRY': // task-retried went out on 'task-retrying', before the retry's message
        break;
      case 'REVOKED':
        this.send('task-revoked', {
          uuid: request.id,
          terminated: outcome.reason === 'terminated',
          signum: null,
          expired: outcome.reason.startsWith('expired'),
        });
        break;
      case 'REQUEUED':
        break;
    }
  };

  constructor(
    readonly worker: Worker,
    options: WorkerEventOptions = {},
  ) {
    this.dispatcher = new EventDispatcher(() => worker.app.transport, worker.hostname);
    this.taskEvents = options.taskEvents ?? true;
    const interval = options.heartbeatInterval === undefined ? HEARTBEAT_SECONDS : options.heartbeatInterval;
    if (interval !== null && !(Number.isFinite(interval) && interval > 0)) {
      throw new ConfigError('heartbeatInterval', `expected a number of seconds above 0, or null, got ${String(interval)}`);
    }
    this.heartbeatInterval = interval;
  }

  async start(): Promise<void> {
    this.worker.on('task-received', this.#onReceived);
    this.worker.on('task-started', this.#onStarted);
    this.worker.on('task-done', this.#onDone);
    this.worker.on('task-retrying', this.#onRetrying);
    if (this.heartbeatInterval === null) return;
    await this.dispatcher.send('worker-online', this.workerFields());
    this.#timer = setInterval(() => this.heartbeat(), this.heartbeatInterval * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.worker.off('task-received', this.#onReceived);
    this.worker.off('task-started', this.#onStarted);
    this.worker.off('task-done', this.#onDone);
    this.worker.off('task-retrying', this.#onRetrying);
    if (this.heartbeatInterval !== null) await this.dispatcher.send('worker-offline', this.workerFields());
  }

  /** Sends one worker-heartbeat now (also remote control's heartbeat command). */
  heartbeat(): void {
    this.send('worker-heartbeat', this.workerFields());
  }

  private send(type: string, fields: Record<string, unknown>): void {
    if (!this.taskEvents && type.startsWith('task-')) return;
    void this.dispatcher.send(type, fields);
  }

  private workerFields(): Record<string, unknown> {
    return {
      freq: this.heartbeatInterval ?? HEARTBEAT_SECONDS,
      sw_ident: 'celeriac',
      sw_ver: '0.1.0',
      sw_sys: process.platform,
      active: this.worker.active,
      processed: this.#processed,
      loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
    };
  }
}

function describe(error: unknown): string {
  const info = errorToExceptionInfo(error);
  const message = Array.isArray(info.exc_message) ? info.exc_message.map(String).join(', ') : String(info.exc_message);
  return `${info.exc_type}(${JSON.stringify(message)})`;
}
