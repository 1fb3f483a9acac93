import type { Logger } from 'winston';
import { isQuorumQueue } from '../app/queues.js';
import type { Delivery } from '../broker/transport.js';
import type { WorkerHost } from './host.js';
import type { TaskRequest } from './request.js';
import { Suspects } from './suspects.js';

/** Why a message goes to the dead-letter queue instead of running (again). */
export interface RedeliveryVerdict {
  reason: 'redelivery-limit';
  error: Error;
}

/** What the policy reads of the worker's host: which queues are quorum queues, and the backend's counts. */
export type RedeliveryHost = Pick<WorkerHost, 'config' | 'hasBackend' | 'backend'>;

/**
 * A worker's poison-message policy (`maxRedeliveries`; docs/reliability.md#poison-messages): a
 * message that keeps killing, hanging or disconnecting the workers that take it is
 * dead-lettered with reason `redelivery-limit` instead of running again and again.
 *
 * Two counts, never both for one delivery:
 * - on the app's quorum queues the broker counts deliveries (Delivery.deliveryCount): a
 *   delivery whose count is past the limit is refused on arrival (arrivalVerdict);
 * - elsewhere, a redelivered message's *starts* are counted per task id in the result backend
 *   when it counts them (countsStarts): on arrival the earlier starts are read, and a request
 *   that has some is a suspect (see Suspects: suspects run one at a time beside healthy work);
 *   as it starts the start is added, and past the limit it is refused (startVerdict). Starts
 *   are counted, not deliveries, and no two suspects run together, so tasks that merely ran
 *   beside a task that kills its worker are not blamed for it again and again.
 *
 * The backend's count never blocks work: when it fails, the task runs.
 */
export class RedeliveryPolicy {
  /** Redelivered requests that ran when some worker died. */
  readonly #suspects = new Suspects<TaskRequest>();

  constructor(
    private readonly host: RedeliveryHost,
    /** Most redelivered starts (or broker redeliveries) allowed; null: no limit. */
    readonly maxRedeliveries: number | null,
    private readonly logger: Logger,
  ) {}

  /** The verdict on a delivery as it arrives: refused when the broker's count is past the limit. */
  arrivalVerdict(delivery: Delivery): RedeliveryVerdict | null {
    const brokerCount = this.brokerDeliveryCount(delivery);
    if (brokerCount === undefined || this.maxRedeliveries === null || brokerCount <= this.maxRedeliveries) return null;
    const error =
      `delivered ${brokerCount + 1} times (delivery count ${brokerCount}, limit ${this.maxRedeliveries}): ` +
      'every worker that took it died, hung, lost its connection or returned it';
    return { reason: 'redelivery-limit', error: new Error(error) };
  }

  /**
   * Whether this request's starts are counted in the backend: a redelivered message, with a
   * limit and a backend that counts, unless the broker counts its deliveries itself (quorum
   * queues). Only such requests go through learnEarlierStarts and startVerdict.
   */
  countsStarts(request: TaskRequest): boolean {
    return (
      this.maxRedeliveries !== null &&
      request.delivery.redelivered &&
      this.brokerDeliveryCount(request.delivery) === undefined &&
      this.host.hasBackend &&
      this.host.backend.countRedeliveredStarts !== undefined
    );
  }

  /** Reads the request's earlier redelivered starts (countsStarts): with any, it is a suspect from now on. Never rejects. */
  async learnEarlierStarts(request: TaskRequest): Promise<void> {
    const prior = await this.redeliveredStarts(request, 0);
    if (prior > 0) this.#suspects.add(request, prior);
  }

  /**
   * Counts the start of a request that is about to run (only when countsStarts: null otherwise);
   * past `maxRedeliveries` the verdict refuses it instead. Never rejects.
   */
  async startVerdict(request: TaskRequest): Promise<RedeliveryVerdict | null> {
    if (!this.countsStarts(request)) return null;
    const limit = this.maxRedeliveries!;
    const starts = await this.redeliveredStarts(request, 1);
    if (starts <= limit) return null;
    const error =
      `started ${starts} times on redelivered messages (limit ${limit}): ` + 'every worker running it died, hung or lost its connection';
    return { reason: 'redelivery-limit', error: new Error(error) };
  }

  /** The waiting suspect that may start now (a suspect slot is free), if any. */
  nextSuspect(waiting: readonly TaskRequest[]): TaskRequest | undefined {
    return this.#suspects.next(waiting);
  }

  /** Whether a waiting request may start now: any non-suspect, and the suspect nextSuspect() chose. */
  mayStart(request: TaskRequest, chosen: TaskRequest | undefined): boolean {
    return request === chosen || !this.#suspects.has(request);
  }

  /** The suspect nextSuspect() chose took a concurrency slot. */
  suspectStarted(request: TaskRequest): void {
    this.#suspects.started(request);
  }

  /** A request's code finished (or it did not run): its suspect slot, if it held one, is free. Idempotent. */
  finished(request: TaskRequest): void {
    this.#suspects.finished(request);
  }

  /**
   * The broker's count of earlier deliveries of this message (Delivery.deliveryCount), or
   * undefined when the delivery's queue is not a quorum queue of this app.
   */
  private brokerDeliveryCount(delivery: Delivery): number | undefined {
    if (!isQuorumQueue(delivery.queue, this.host.config)) return undefined;
    return delivery.deliveryCount;
  }

  /** Adds `add` to the task's count of redelivered starts and resolves with it; 0 when the backend fails. */
  private async redeliveredStarts(request: TaskRequest, add: 0 | 1): Promise<number> {
    try {
      return await this.host.backend.countRedeliveredStarts!(request.id, add);
    } catch (error) {
      this.logger.warn(
        `Task ${request.name}[${request.id}] redelivered; its start count is unavailable (${(error as Error).message}); running it`,
      );
      return 0;
    }
  }
}
