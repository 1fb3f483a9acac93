import type { ConsumerHandle, Delivery } from '../broker/transport.js';
import type { Worker } from '../worker/worker.js';
import { HANDLERS, type HandlerState } from './handlers.js';
import { decodeBody, encodeJson, isAddressedTo, LamportClock, nodeQueue, type ControlRequest } from './mailbox.js';
import { REVOKE_EXPIRES_MS, RevokedSet, revocationStore, type RevocationStore } from './revocations.js';

export interface ControlServerOptions {
  /** Called on `control shutdown`. Default: worker.stop(). The CLI exits the process instead. */
  onShutdown?: () => void;
  /** A revocation store to use instead of the one picked from the app's backend. */
  store?: RevocationStore;
}

/**
 * A worker's end of Celery's mailbox (see mailbox.ts): consumes `<hostname>.celery.pidbox`,
 * runs the methods addressed to this node and replies when asked. It also makes the worker
 * honour revocations: those in the revocation store when it starts, and every revoke it
 * receives (which it also writes to the store, so revokes sent by Python clients persist too).
 *
 * Invariants: a malformed or unknown request never stops the node (it is acked and answered
 * with `{error}` when a reply is wanted); a request whose `expires` header has passed is ignored.
 */
export class ControlServer {
  readonly clock = new LamportClock();
  readonly revoked = new RevokedSet();
  readonly #store: RevocationStore;
  readonly #state: HandlerState;
  readonly #totals = new Map<string, number>();
  #consumer: ConsumerHandle | undefined;
  readonly #countDone = (request: { name: string }): void => {
    this.#totals.set(request.name, (this.#totals.get(request.name) ?? 0) + 1);
  };

  constructor(
    readonly worker: Worker,
    options: ControlServerOptions = {},
  ) {
    this.#store = options.store ?? revocationStore(worker.app);
    this.#state = {
      worker,
      startedAt: Date.now(),
      clock: () => this.clock.value,
      totals: this.#totals,
      revoke: (ids, terminate) => this.revoke(ids, terminate),
      revokedIds: () => this.revoked.ids(),
      shutdown: options.onShutdown ?? (() => void worker.stop()),
    };
  }

  get queueName(): string {
    return nodeQueue(this.worker.hostname).name;
  }

  /** Loads stored revocations, hooks them into the worker, starts consuming the node queue. */
  async start(): Promise<void> {
    try {
      for (const [id, at] of await this.#store.list()) this.revoked.add(id, at);
    } catch (error) {
      this.worker.logger.warn(`remote control: could not load stored revocations: ${(error as Error).message}`);
    }
    this.worker.isRevoked = (id) => this.revoked.has(id);
    this.worker.on('task-done', this.#countDone);
    const transport = this.worker.app.transport;
    await transport.declareQueue(nodeQueue(this.worker.hostname));
    this.#consumer = await transport.consume([this.queueName], { prefetch: 16 }, (delivery) => {
      delivery.ack();
      void this.handle(delivery);
    });
  }

  /** Flags ids as revoked here and in the store; with terminate, gives up their running tasks. */
  async revoke(taskIds: readonly string[], terminate: boolean): Promise<void> {
    const expiresAt = Date.now() + REVOKE_EXPIRES_MS;
    for (const id of taskIds) this.revoked.add(id, expiresAt);
    if (terminate) for (const id of taskIds) this.worker.terminate(id);
    this.worker.logger.info(`Tasks flagged as revoked: ${taskIds.join(', ')}${terminate ? ' (terminate)' : ''}`);
    await this.#store.add(taskIds, expiresAt).catch((error: Error) => this.worker.logger.warn(`remote control: storing revocations failed: ${error.message}`));
  }

  async stop(): Promise<void> {
    this.worker.off('task-done', this.#countDone);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.cancel().catch(() => undefined);
    if (consumer) await this.worker.app.transport.deleteQueue(this.queueName).catch(() => undefined);
    await this.#store.close();
  }

  private async handle(delivery: Delivery): Promise<void> {
    const headers = delivery.properties.headers ?? {};
    this.clock.adjust(headers.clock);
    const expires = Number(headers.expires ?? 0);
    if (expires > 0 && Date.now() / 1000 > expires) return;
    const body = decodeBody(delivery);
    if (typeof body !== 'object' || body === null || typeof (body as ControlRequest).method !== 'string') {
      this.worker.logger.warn(`remote control: ignored an undecodable message on ${this.queueName}`);
      return;
    }
    const request = body as ControlRequest;
    if (!isAddressedTo(request, this.worker.hostname)) return;
    const handler = Object.hasOwn(HANDLERS, request.method) ? HANDLERS[request.method] : undefined;
    let reply: unknown;
    try {
      reply = handler ? await handler(this.#state, request.arguments ?? {}) : { error: `No such control command: ${request.method}` };
    } catch (error) {
      reply = { error: String((error as Error)?.message ?? error) };
    }
    if (!request.reply_to || !request.ticket) return;
    const message = encodeJson({ [this.worker.hostname]: reply }, { ticket: request.ticket, clock: this.clock.forward() });
    await this.worker.app.transport
      .publish(message, { exchange: request.reply_to.exchange, routingKey: request.reply_to.routing_key, mandatory: false })
      .catch((error: Error) => this.worker.logger.debug(`remote control: reply not delivered: ${error.message}`));
  }
}
