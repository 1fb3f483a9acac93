import { performance } from 'node:perf_hooks';
import type { Logger } from 'winston';
import type { Task } from '../app/task.js';
import type { TaskContext } from '../app/task-context.js';
import type { TaskMeta } from '../protocol/task-meta.js';
import type { Delivery } from '../broker/transport.js';
import type { TaskMessage } from '../protocol/task-message.js';
import { SerializationError, UnsendableError } from '../errors/errors.js';
import { deadLetter } from './dead-letter.js';
import { isRetryableFault } from './fault-kind.js';
import { republish } from './republish.js';
import type { WorkerHost } from './host.js';
import { TaskTerminated, UnpassableResult, type PoolJob, type TaskPool } from './pool/pool.js';
import { decideRetry } from './retry-policy.js';
import { timeLimitsOf, type TimeLimits } from './time-limits.js';
import { RequestContext } from './request-context.js';
import { failureMeta, retryMeta, revokedMeta, successMeta } from './outcome.js';
import { continueWorkflow } from '../canvas/continuation.js';
import { sleep } from '../util/long-timeout.js';
import { errorMessageText } from '../util/truncate.js';
import { runInTaskSpan, withTraceContext } from '../tracing/trace-context.js';

/**
 * Outcome of one request, for logs, events and specs. `deadLettered`: the task ran (or was
 * revoked) but its message went to `<queue>.dead-letter` instead of being acked plainly, with
 * the reason and error text of its headers — `workflow` (a part of its workflow cannot be sent),
 * `result-store` (the result backend refuses its outcome for good) or `retry` (its retry cannot
 * be sent: recorded FAILURE instead).
 */
export type RequestOutcome =
  | { state: 'SUCCESS'; result: unknown; runtimeMs: number; deadLettered?: DeadLettered }
  | { state: 'FAILURE'; error: unknown; runtimeMs: number; deadLettered?: DeadLettered }
  | { state: 'REVOKED'; reason: string; deadLettered?: DeadLettered }
  /** Re-published with retries + 1, to run again after `delayMs`; RETRY recorded. */
  | { state: 'RETRY'; error: unknown; delayMs: number; runtimeMs: number; deadLettered?: DeadLettered }
  /** The outcome could not be recorded or passed on for now (an outage); the message went back to the queue. */
  | { state: 'REQUEUED'; error: unknown; deadLettered?: undefined };

/** What a request that ran (or was revoked) ends with before it is acked or dead-lettered. */
type SettledOutcome = Exclude<RequestOutcome, { state: 'REQUEUED' }>;

export interface DeadLettered {
  reason: 'workflow' | 'result-store' | 'retry';
  error: string;
}

export interface RequestEnvironment {
  /** Where outcomes are recorded and workflows, retries and dead letters are sent. */
  host: WorkerHost;
  hostname: string;
  logger: Logger;
  /** Delays between attempts to record an outcome before the message is requeued. */
  storeRetryDelaysMs: readonly number[];
  /** Where task code runs. */
  pool: TaskPool;
  /** Revoked task ids (remote control): such a task is not run and is recorded REVOKED. */
  isRevoked?: (taskId: string) => boolean;
  /** The worker's limits for tasks without their own (neither in the message nor in the task's options). */
  defaultTimeLimits?: TimeLimits;
  /** Told of a run that ends in a retry, before the retry's message is sent (WorkerEvents 'task-retrying'). */
  retrying?: (request: TaskRequest, error: unknown) => void;
}

/**
 * A request's run as a pool sees it; `abort` is the request's controller, made on first use. A
 * class rather than an object literal with a getter: see request-context.ts for why.
 */
class RequestJob implements PoolJob {
  readonly task: Task<never[]>;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly #request: TaskRequest;

  constructor(
    request: TaskRequest,
    readonly context: TaskContext,
    readonly limits: TimeLimits,
  ) {
    this.#request = request;
    this.task = request.task;
    this.args = request.message.args;
    this.kwargs = request.message.kwargs;
  }

  get abort(): AbortController {
    return this.#request.abort;
  }
}

/**
 * One task delivery, from "ready to run" to settled. Invariants:
 * - the delivery is settled exactly once, and acked only after the outcome (result, failure or
 *   revocation) is recorded in the result backend — or when the task ignores results;
 * - once the body has run, the message is requeued (and the body runs again) only for an outage
 *   a later attempt can get past (isRetryableFault: broker or backend unreachable, timed out,
 *   connection or channel lost). An error that would recur on every run — the backend refusing
 *   the outcome for good (Redis WRONGTYPE), a workflow part that cannot be sent (a bad option,
 *   an exchange that does not exist, a retry whose headers cannot be encoded) — ends the
 *   delivery in `<queue>.dead-letter` with its reason (`result-store`, `workflow`, `retry`)
 *   after what can be recorded is recorded: one run.
 */
export class TaskRequest {
  #abort: AbortController | undefined;
  /** Behind the task's `signal`; made on first use (most tasks never look at their signal). */
  get abort(): AbortController {
    this.#abort ??= new AbortController();
    return this.#abort;
  }
  /**
   * Resolves when the task's code has finished (or was never started): from then on the
   * request only records and acks, which needs no concurrency slot.
   */
  readonly codeFinished: Promise<void>;
  #finishCode!: () => void;
  /** Whether its task code was started (not for a request revoked or expired before it ran). */
  ranCode = false;
  /** Set while the code runs: gives the run up (see execute). */
  #terminate: ((reason: TaskTerminated) => void) | undefined;

  constructor(
    readonly delivery: Delivery,
    readonly message: TaskMessage,
    readonly task: Task<never[]>,
  ) {
    this.codeFinished = new Promise((resolve) => (this.#finishCode = resolve));
  }

  get id(): string {
    return this.message.headers.id;
  }

  get name(): string {
    return this.message.headers.task;
  }

  /** Milliseconds until the ETA, or 0 when it may start now. */
  delayMs(now = Date.now()): number {
    const eta = this.message.headers.eta;
    if (!eta) return 0;
    const at = Date.parse(eta);
    return Number.isNaN(at) ? 0 : Math.max(0, at - now);
  }

  isExpired(now = Date.now()): boolean {
    const expires = this.message.headers.expires;
    if (!expires) return false;
    const at = Date.parse(expires);
    return !Number.isNaN(at) && at <= now;
  }

  /** Gives up the run (revoke --terminate): aborts the signal; execute() records REVOKED. */
  terminate(): void {
    const reason = new TaskTerminated(this.id);
    if (!this.abort.signal.aborted) this.abort.abort(reason);
    this.#terminate?.(reason);
  }

  async execute(env: RequestEnvironment): Promise<RequestOutcome> {
    const { headers } = this.message;
    const log = env.logger;
    if (env.isRevoked?.(this.id)) {
      this.#finishCode();
      log.warn(`Task ${this.name}[${this.id}] revoked; not run, recorded REVOKED`);
      return this.settle(env, () => revokedMeta(headers, 'revoked'), { state: 'REVOKED', reason: 'revoked' });
    }
    if (this.isExpired()) {
      this.#finishCode();
      const reason = `expired at ${headers.expires}`;
      log.warn(`Task ${this.name}[${this.id}] ${reason}; not run, recorded REVOKED`);
      return this.settle(env, () => revokedMeta(headers, reason), { state: 'REVOKED', reason });
    }
    const context = new RequestContext(this.message, this.delivery, env.hostname, this, env.logger);
    const started = performance.now();
    let outcome: SettledOutcome;
    let meta: () => TaskMeta;
    try {
      const limits = timeLimitsOf(headers, this.task.options, env.defaultTimeLimits);
      const job = new RequestJob(this, context, limits);
      this.ranCode = true;
      const running = runInTaskSpan(headers, this, () => env.pool.run(job));
      // Settles with the run, or rejects when terminate() gives it up: at once with the async
      // pool, which cannot stop code that ignores its signal; with the threads pool only once the
      // thread was stopped (the run settled), so the slot is really free.
      const result = await new Promise<unknown>((resolve, reject) => {
        this.#terminate =
          env.pool.kind === 'threads'
            ? (reason) => {
                void running.then(
                  () => reject(reason),
                  () => reject(reason),
                );
              }
            : reject;
        running.then(resolve, reject);
      });
      this.#finishCode();
      outcome = { state: 'SUCCESS', result, runtimeMs: performance.now() - started };
      meta = () => successMeta(headers, result);
    } catch (thrown) {
      this.#finishCode();
      const runtimeMs = performance.now() - started;
      if (this.#abort?.signal.reason instanceof TaskTerminated) {
        log.warn(`Task ${this.name}[${this.id}] terminated by revoke; recorded REVOKED`);
        return this.settle(env, () => revokedMeta(headers, 'terminated'), { state: 'REVOKED', reason: 'terminated' });
      }
      const decision = decideRetry(this.task.options, { taskName: this.name, taskId: this.id, retries: headers.retries }, thrown);
      if (decision.retry) return this.retry(env, decision.error, decision.delayMs, runtimeMs);
      outcome = { state: 'FAILURE', error: decision.error, runtimeMs };
      meta = () => failureMeta(headers, decision.error);
    }
    return this.settle(env, meta, outcome);
  }

  /**
   * Retry: record RETRY (with the error), re-publish the message with retries + 1 through the
   * delay tiers and only after the broker confirmed it, ack the original. The embedded workflow
   * is not continued: chain, chord and errbacks wait for the final outcome. An outage on the way
   * requeues the original, so the run is repeated rather than lost; a copy that can never be
   * published (isRetryableFault false) makes the run final: FAILURE is recorded with the task's
   * error and the message dead-lettered (reason `retry`).
   */
  private async retry(env: RequestEnvironment, error: unknown, delayMs: number, runtimeMs: number): Promise<RequestOutcome> {
    const { headers } = this.message;
    if (!headers.ignore_result && env.host.hasBackend) {
      const stored = await this.record(env, retryMeta(headers, error));
      if (stored !== true) return this.notRecorded(env, stored, { state: 'RETRY', error, delayMs, runtimeMs });
    }
    const eta = delayMs > 0 ? new Date(Date.now() + delayMs).toISOString() : null;
    env.retrying?.(this, error);
    try {
      await republish(env.host, this.delivery, { ...this.delivery.properties.headers, retries: headers.retries + 1, eta }, delayMs);
    } catch (publishError) {
      if (isRetryableFault(publishError)) return this.requeue(env, publishError);
      return this.retryUnsendable(env, error, runtimeMs, publishError);
    }
    if (!this.delivery.ack()) {
      env.logger.warn(`Task ${this.name}[${this.id}] could not be acked after its retry was sent (connection lost); it may run twice`);
    }
    return { state: 'RETRY', error, delayMs, runtimeMs };
  }

  /**
   * The retry of a run cannot be sent, ever: the run is its final one (see retry) — settled as a
   * FAILURE (recorded, its workflow told), then dead-lettered instead of acked.
   */
  private retryUnsendable(env: RequestEnvironment, error: unknown, runtimeMs: number, publishError: unknown): Promise<RequestOutcome> {
    const deadLettered: DeadLettered = { reason: 'retry', error: `its retry cannot be sent: ${errorMessageText(publishError)}` };
    return this.settle(env, () => failureMeta(this.message.headers, error), { state: 'FAILURE', error, runtimeMs }, deadLettered);
  }

  /**
   * Records `meta` (unless results are ignored), continues the workflow the message embeds
   * (chain, callbacks, chord), then acks. An outage on the way leaves the message unacked: it is
   * requeued and everything is done again (with the same ids) on redelivery. A failure no retry
   * can fix dead-letters it instead (see the class comment), as does `deadLettered` once the
   * rest is done.
   */
  private async settle(
    env: RequestEnvironment,
    makeMeta: () => TaskMeta,
    outcome: SettledOutcome,
    deadLettered?: DeadLettered,
  ): Promise<RequestOutcome> {
    const ignored = this.message.headers.ignore_result || !env.host.hasBackend;
    const workflow = hasWorkflow(this.message);
    // Built only when recorded or passed on: a fire-and-forget task needs none.
    let meta = ignored && !workflow ? null : makeMeta();
    if (meta && !ignored) {
      // The threads pool found the value unstorable already (UnpassableResult): not sent to the store.
      const unpassable =
        outcome.state === 'SUCCESS' && outcome.result instanceof UnpassableResult ? new SerializationError(outcome.result.problem) : null;
      const stored = unpassable ?? (await this.record(env, meta));
      if (stored instanceof SerializationError && meta.status === 'SUCCESS') {
        // The value cannot be stored: record that as the task's failure instead (never retried).
        const error = new SerializationError(`result of task ${this.name} cannot be serialized: ${stored.message}`);
        outcome = { state: 'FAILURE', error, runtimeMs: 'runtimeMs' in outcome ? outcome.runtimeMs : 0 };
        meta = failureMeta(this.message.headers, error);
        const retried = await this.record(env, meta);
        if (retried !== true) return this.notRecorded(env, retried, outcome);
      } else if (stored !== true) {
        return this.notRecorded(env, stored, outcome);
      }
    }
    if (meta && workflow) {
      const { status, result, traceback } = meta;
      let unsendable: readonly UnsendableError[];
      try {
        unsendable = await withTraceContext(this.message.headers, () =>
          continueWorkflow(env.host, this.message, status, result, traceback, isRetryableFault),
        );
      } catch (error) {
        if (isRetryableFault(error)) return this.requeue(env, error);
        unsendable = [
          new UnsendableError(
            'workflow',
            this.name,
            `workflow of ${this.name}[${this.id}] cannot be passed on: ${(error as Error)?.message ?? error}`,
            { cause: error },
          ),
        ];
      }
      if (unsendable.length > 0)
        return this.deadLetterAfterRun(env, { reason: 'workflow', error: unsendable.map((u) => u.message).join('; ') }, outcome);
    }
    if (deadLettered) return this.deadLetterAfterRun(env, deadLettered, outcome);
    if (!this.delivery.ack()) {
      env.logger.warn(`Task ${this.name}[${this.id}] could not be acked (connection lost); the broker will redeliver it`);
    }
    return outcome;
  }

  /**
   * true when stored; otherwise the last error. Retries only what an outage may explain
   * (isRetryableFault): not a serialization error, a permanent refusal of the backend, a bug.
   */
  private async record(env: RequestEnvironment, meta: TaskMeta): Promise<unknown> {
    const context = { correlationId: this.id, ...(this.message.replyTo ? { replyTo: this.message.replyTo } : {}) };
    let lastError: unknown;
    for (let attempt = 0; attempt <= env.storeRetryDelaysMs.length; attempt++) {
      if (attempt > 0) await sleep(env.storeRetryDelaysMs[attempt - 1]);
      try {
        await env.host.backend.storeResult(meta, context);
        return true;
      } catch (error) {
        if (!isRetryableFault(error)) return error;
        lastError = error;
        env.logger.warn(`Task ${this.name}[${this.id}]: storing the result failed (${(error as Error).message}); attempt ${attempt + 1}`);
      }
    }
    return lastError;
  }

  /**
   * The outcome was not stored: requeued when an outage explains it (isRetryableFault: it runs
   * again once the backend is back), dead-lettered with reason `result-store` otherwise — the
   * backend refuses it for good, and running the task again would end the same way.
   */
  private notRecorded(env: RequestEnvironment, error: unknown, outcome: SettledOutcome): Promise<RequestOutcome> | RequestOutcome {
    if (isRetryableFault(error)) return this.requeue(env, error);
    const text = `outcome ${outcome.state} of ${this.name}[${this.id}] cannot be stored: ${errorMessageText(error)}`;
    return this.deadLetterAfterRun(env, { reason: 'result-store', error: text }, outcome);
  }

  /**
   * Moves the message to `<queue>.dead-letter` (acked once the copy is confirmed) after its task
   * ran. If even that publish fails (an outage), deadLetter requeues the message.
   */
  private async deadLetterAfterRun(env: RequestEnvironment, deadLettered: DeadLettered, outcome: SettledOutcome): Promise<RequestOutcome> {
    env.logger.error(
      `Task ${this.name}[${this.id}] ran (${outcome.state}) but ${deadLettered.error}; ` +
        `dead-lettering its message (${deadLettered.reason}), not running it again`,
    );
    if (!(await deadLetter(env.host.transport, this.delivery, deadLettered.reason, deadLettered.error, env.host.config))) {
      env.logger.error(`Task ${this.name}[${this.id}] could not be dead-lettered; requeued`);
      return { state: 'REQUEUED', error: new Error(deadLettered.error) };
    }
    return { ...outcome, deadLettered };
  }

  private requeue(env: RequestEnvironment, error: unknown): RequestOutcome {
    env.logger.error(
      `Task ${this.name}[${this.id}]: outcome could not be recorded or passed on (${errorMessageText(error)}); message requeued`,
    );
    this.delivery.reject(true);
    return { state: 'REQUEUED', error };
  }
}

function hasWorkflow(message: TaskMessage): boolean {
  const { embed } = message;
  return Boolean(embed.callbacks?.length || embed.errbacks?.length || embed.chain?.length || (embed.chord && message.headers.group));
}
