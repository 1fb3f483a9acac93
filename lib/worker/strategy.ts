import type { Delivery } from '../broker/transport.js';
import { checkWorkflowOf } from '../canvas/embed-check.js';
import { InvalidMessageError } from '../errors/errors.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import type { EtaScheduler } from './eta-scheduler.js';
import type { WorkerHost } from './host.js';
import type { RedeliveryPolicy } from './redelivery-policy.js';
import { TaskRequest } from './request.js';

/** What admission reads of the worker's host: the task registry, and what may be decoded. */
export type StrategyHost = Pick<WorkerHost, 'config' | 'tasks'>;

/** What a strategy tells its worker. */
export interface StrategyHooks {
  /** A delivery became a request: it decodes and names a task of the registry. */
  received(request: TaskRequest): void;
  /** A request may start as soon as a concurrency slot (and its rate limit) allows. */
  ready(request: TaskRequest): void;
  /** Whether the worker still takes work. */
  isRunning(): boolean;
  /** Sends a delivery that must not run to its dead-letter queue, with the reason (default: the InvalidMessageError's, else `decode`). */
  refuse(delivery: Delivery, error: unknown, reason?: string): void;
}

/**
 * How a worker admits a delivery (Celery's task strategy): the checks before the message may run,
 * then where it waits. In order:
 * 1. a body over `maxMessageSize` is refused (`too-large`) without decoding;
 * 2. the message is decoded (content types the host's config accepts), must name a task of the
 *    registry (`unknown-task`) and must embed only a workflow that could be sent (`embed`):
 *    else it is refused with the decoder's reason — it never runs and never crashes the worker;
 * 3. the redelivery policy may refuse it (`redelivery-limit`), or first read its earlier starts;
 * 4. a request whose ETA lies ahead goes to the EtaScheduler (held, or deferred to the broker's
 *    delay tiers), any other is ready.
 * Every delivery ends exactly one way: refused, scheduled, ready, or — when the worker stopped
 * while the policy was reading — back to its queue.
 */
export class DeliveryStrategy {
  constructor(
    private readonly host: StrategyHost,
    /** Most bytes of a body (as received, and once inflated); null: no limit. */
    private readonly maxMessageSize: number | null,
    private readonly redelivery: RedeliveryPolicy,
    private readonly scheduled: EtaScheduler,
    private readonly hooks: StrategyHooks,
  ) {}

  admit(delivery: Delivery): void {
    if (this.maxMessageSize !== null && delivery.body.length > this.maxMessageSize) {
      this.hooks.refuse(
        delivery,
        new Error(`body of ${delivery.body.length} bytes exceeds the worker's maxMessageSize of ${this.maxMessageSize} bytes`),
        'too-large',
      );
      return;
    }
    let request: TaskRequest;
    try {
      const message = decodeTaskMessage(delivery.body, delivery.properties, this.host.config.accept, { maxBodyBytes: this.maxMessageSize });
      const task = this.host.tasks.get(message.headers.task);
      if (!task) throw new InvalidMessageError('unknown-task', `task "${message.headers.task}" is not registered on this worker`);
      // Before the body can run: an embed that could never be sent makes its outcome impossible to pass on.
      checkWorkflowOf(message);
      request = new TaskRequest(delivery, message, task);
    } catch (error) {
      this.hooks.refuse(delivery, error);
      return;
    }
    this.hooks.received(request);
    const verdict = this.redelivery.arrivalVerdict(delivery);
    if (verdict) {
      this.hooks.refuse(delivery, verdict.error, verdict.reason);
      return;
    }
    if (!this.redelivery.countsStarts(request)) {
      this.route(request);
      return;
    }
    void this.redelivery.learnEarlierStarts(request).then(() => {
      if (this.hooks.isRunning()) this.route(request);
      else request.delivery.reject(true);
    });
  }

  /** To the scheduler while its ETA lies ahead, else ready. */
  private route(request: TaskRequest): void {
    const delay = request.delayMs();
    if (delay > 0) this.scheduled.schedule(request, delay);
    else this.hooks.ready(request);
  }
}
