import type { ConsumerHandle, Delivery } from '../broker/transport.js';
import type { App } from '../app/app.js';
import type { Worker } from '../worker/worker.js';
import { listNames, truncateText } from '../util/truncate.js';
import { isAddressedTo, PcreBudget, PcreBudgetSpentError } from './addressing.js';
import { CappedLog } from './capped-log.js';
import { refusalOf, type ControlPolicy } from '../app/command-policy.js';
import { parseControlRequest, type ControlRequest } from './control-request.js';
import { ArgumentError } from './handler-arguments.js';
import { HANDLERS, type ControlledEvents, type HandlerState } from './handlers.js';
import { decodeBody, encodeJson, LamportClock } from '../protocol/broadcast-message.js';
import { nodeQueue } from './mailbox.js';
import { REVOKE_EXPIRES_MS, RevokedSet, revocationStore, type RevocationStore } from './revocations.js';

/** Messages taken from the node queue and not yet handled: the broker's prefetch, since each is acked once handled. */
const MAILBOX_PREFETCH = 16;
/** Messages handled at once; the rest of those taken wait their turn, in order. */
const MAX_HANDLED_AT_ONCE = 4;
/** A handler still running after this gives up its slot (it goes on; its message is acked), so none can hold the mailbox. */
const SLOT_HOLD_MS = 30_000;
/** Longest `{error}` text in a reply. */
const MAX_REPLY_ERROR_CHARS = 300;
/** At most one log line per this interval about messages dropped for a spent pcre budget. */
const BUDGET_LOG_INTERVAL_MS = 60_000;

export interface ControlServerOptions {
  /** Called on `control shutdown`. Default: worker.stop(). The CLI exits the process instead. */
  onShutdown?: () => void;
  /** A revocation store to use instead of the app's backend; null keeps revocations in memory only. */
  store?: RevocationStore | null;
  /** The commands obeyed (see command-policy.ts). Default: the app's `controlCommands`. */
  policy?: ControlPolicy;
  /** The worker's event sending, for enable_events / disable_events / heartbeat; absent: those answer `{error}`. */
  events?: ControlledEvents | null;
}

/**
 * A worker's end of Celery's mailbox (see mailbox.ts): consumes `<hostname>.celery.pidbox`,
 * runs the methods addressed to this node and replies when asked. It also makes the worker
 * honour revocations: those in the revocation store when it starts, and every revoke it
 * receives (which it also writes to the store, so revokes sent by Python clients persist too).
 *
 * Invariants: every request is acked once handled, whatever the outcome (none is requeued),
 * and none stops the node; at most MAX_HANDLED_AT_ONCE are handled at once (one running past
 * SLOT_HOLD_MS no longer counts) and MAILBOX_PREFETCH held, so a flood waits in the broker's
 * queue (and expires there by its TTL) rather than in memory; pcre pattern matching gets a time budget per second (PcreBudget), past which
 * pattern-addressed requests are dropped with one log line a minute; a request is used only
 * after control-request.ts has checked it (a malformed one is logged and dropped, or answered
 * with `{error}` when its addressing and reply fields are sound); a command the policy refuses,
 * or one that is unknown, is answered with `{error}` and logged; log lines about requests are
 * capped (capped-log.ts); replies go on an isolated channel (PublishTarget.isolated); a request
 * whose `expires` header has passed is ignored.
 */
export class ControlServer {
  readonly clock = new LamportClock();
  readonly revoked = new RevokedSet();
  readonly #store: RevocationStore | null;
  readonly #state: HandlerState;
  readonly #totals = new Map<string, number>();
  readonly #policy: ControlPolicy;
  readonly #log: CappedLog;
  readonly #pcreBudget = new PcreBudget();
  readonly #waiting: Delivery[] = [];
  #handling = 0;
  #budgetDrops = 0;
  #budgetLoggedAt = -Infinity;
  #consumer: ConsumerHandle | undefined;
  readonly #countDone = (request: { name: string }): void => {
    this.#totals.set(request.name, (this.#totals.get(request.name) ?? 0) + 1);
  };

  constructor(
    readonly worker: Worker<App>,
    options: ControlServerOptions = {},
  ) {
    this.#store = options.store !== undefined ? options.store : revocationStore(worker.app);
    this.#policy = options.policy ?? worker.app.config.controlCommands;
    this.#log = new CappedLog(worker.logger);
    this.#state = {
      worker,
      startedAt: Date.now(),
      clock: () => this.clock.value,
      totals: this.#totals,
      revoke: (ids, terminate) => this.revoke(ids, terminate),
      revokedIds: () => this.revoked.ids(),
      shutdown: options.onShutdown ?? (() => void worker.stop()),
      events: options.events ?? null,
    };
  }

  get queueName(): string {
    return nodeQueue(this.worker.hostname).name;
  }

  /** Loads stored revocations, hooks them into the worker, starts consuming the node queue. */
  async start(): Promise<void> {
    if (this.#store === null) {
      this.worker.logger.info(
        'remote control: revocations are kept in worker memory only' +
          ' (the result backend stores none: use redis:// to keep them across restarts)',
      );
    } else {
      try {
        for (const [id, at] of await this.#store.list()) this.revoked.add(id, at);
      } catch (error) {
        this.worker.logger.warn(`remote control: could not load stored revocations: ${(error as Error).message}`);
      }
    }
    this.worker.isRevoked = (id) => this.revoked.has(id);
    this.worker.on('task-done', this.#countDone);
    const transport = this.worker.app.transport;
    await transport.declareQueue(nodeQueue(this.worker.hostname));
    this.#consumer = await transport.consume([this.queueName], { prefetch: MAILBOX_PREFETCH }, (delivery) => {
      this.#waiting.push(delivery);
      this.#handleWaiting();
    });
  }

  /** Starts waiting messages while fewer than MAX_HANDLED_AT_ONCE are being handled. */
  #handleWaiting(): void {
    while (this.#handling < MAX_HANDLED_AT_ONCE && this.#waiting.length > 0) {
      const delivery = this.#waiting.shift()!;
      this.#handling++;
      let timer: NodeJS.Timeout | undefined;
      const held = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SLOT_HOLD_MS);
        timer.unref();
      });
      // handle() catches what it expects; this catches what it does not, so no control message
      // can end the process through an unhandled rejection.
      const handled = this.handle(delivery).catch((error: unknown) =>
        this.#log.error(`remote control: Control command error: ${String((error as Error)?.stack ?? error)}`),
      );
      void Promise.race([handled, held]).then(() => {
        clearTimeout(timer);
        delivery.ack();
        this.#handling--;
        // The next message starts on a later turn of the event loop: I/O (heartbeats, task
        // messages) runs between control messages, however many wait.
        setImmediate(() => this.#handleWaiting());
      });
    }
  }

  /** Flags ids as revoked here and in the store; with terminate, gives up their running tasks. */
  async revoke(taskIds: readonly string[], terminate: boolean): Promise<void> {
    const expiresAt = Date.now() + REVOKE_EXPIRES_MS;
    for (const id of taskIds) this.revoked.add(id, expiresAt);
    if (terminate) for (const id of taskIds) this.worker.terminate(id);
    this.worker.logger.info(`Tasks flagged as revoked: ${listNames(taskIds, 3)}${terminate ? ' (terminate)' : ''}`);
    await this.#store
      ?.add(taskIds, expiresAt)
      .catch((error: Error) => this.worker.logger.warn(`remote control: storing revocations failed: ${error.message}`));
  }

  async stop(): Promise<void> {
    this.worker.off('task-done', this.#countDone);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.cancel().catch(() => undefined);
    // Taken but not started: the queue is deleted below, and a stopped node answers nothing.
    this.#waiting.length = 0;
    if (consumer) await this.worker.app.transport.deleteQueue(this.queueName).catch(() => undefined);
  }

  /**
   * One request, start to end. Never throws: a request that fails in any way is logged (capped)
   * and, when it can be answered, answered with `{error}`.
   */
  private async handle(delivery: Delivery): Promise<void> {
    const headers = delivery.properties.headers ?? {};
    this.clock.adjust(headers.clock);
    const expires = Number(headers.expires ?? 0);
    if (expires > 0 && Date.now() / 1000 > expires) return;
    const parsed = parseControlRequest(decodeBody(delivery));
    if (!parsed.ok) {
      this.#log.warn(`remote control: dropped a malformed message: ${parsed.problem}`);
      return;
    }
    const { request } = parsed;
    let addressed: boolean;
    try {
      addressed = isAddressedTo(request, this.worker.hostname, this.#pcreBudget);
    } catch (error) {
      if (error instanceof PcreBudgetSpentError) this.#noteBudgetDrop(error);
      else this.#log.warn(`remote control: dropped a message: ${(error as Error).message}`);
      return;
    }
    if (!addressed) return;
    const reply = await this.#run(request, parsed.problem);
    if (!request.reply_to || !request.ticket) return;
    const message = encodeJson({ [this.worker.hostname]: reply }, { ticket: request.ticket, clock: this.clock.forward() });
    const { exchange, routing_key: routingKey } = request.reply_to;
    // Isolated: a reply exchange that does not exist (or may not be written) closes a channel,
    // and it must not be the one task messages are sent on.
    await this.worker.app.transport
      .publish(message, { exchange, routingKey, mandatory: false, isolated: true })
      .catch((error: Error) => this.#log.warn(`remote control: reply to ${request.method} not delivered: ${error.message}`));
  }

  /** Counts a message dropped for a spent pcre budget; logs the count at most once per BUDGET_LOG_INTERVAL_MS. */
  #noteBudgetDrop(error: PcreBudgetSpentError): void {
    this.#budgetDrops++;
    const now = Date.now();
    if (now - this.#budgetLoggedAt < BUDGET_LOG_INTERVAL_MS) return;
    this.#log.warn(`remote control: ${error.message} (${this.#budgetDrops} dropped since the last such line)`);
    this.#budgetLoggedAt = now;
    this.#budgetDrops = 0;
  }

  /** Runs the command the policy allows; its reply, or `{error}` in Celery's format. */
  async #run(request: ControlRequest, problem: string | null): Promise<unknown> {
    if (problem) {
      this.#log.warn(`remote control: refused a malformed message: ${problem}`);
      return { error: problem };
    }
    const { method } = request;
    const refusal = refusalOf(this.#policy, method, request.arguments);
    if (refusal) {
      this.#log.warn(`remote control: refused ${method}: ${refusal}`);
      return { error: refusal };
    }
    const handler = Object.hasOwn(HANDLERS, method) ? HANDLERS[method] : undefined;
    if (!handler) {
      this.#log.warn(`remote control: No such control command: ${method}`);
      return { error: `No such control command: ${method}` };
    }
    try {
      return await handler(this.#state, request.arguments);
    } catch (error) {
      const text = String((error as Error)?.message ?? error);
      if (error instanceof ArgumentError) this.#log.warn(`remote control: refused ${method}: ${text}`);
      else this.#log.error(`remote control: Control command error: ${method}: ${text}`);
      return { error: truncateText(text, MAX_REPLY_ERROR_CHARS) };
    }
  }
}
