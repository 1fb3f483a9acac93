import type { Logger } from 'winston';
import type { TaskContext } from '../app/task-context.js';
import type { Delivery } from '../broker/transport.js';
import { Retry, type RetryOptions } from '../errors/signals.js';
import type { TaskMessage } from '../protocol/task-message.js';

/**
 * The TaskContext of one run: plain fields, with `signal` and `logger` made on first use (most
 * tasks look at neither: a child logger and an AbortController per task would cost).
 *
 * A class, not an object literal with getters, and the same goes for anything made per task: a
 * literal's getters are new closures each time, so V8 gives every such object a hidden class of
 * its own, and hidden classes live in the old generation. Each one then holds its task's objects
 * (through the getters' closures) through every young-generation collection until the next full
 * one — that promoted all of a task's garbage and made each such collection take milliseconds.
 */
export class RequestContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly retries: number;
  readonly rootId: string;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly queue: string;
  readonly redelivered: boolean;
  /** Whose `abort` controller is behind `signal` (made there on first use). */
  readonly #owner: { readonly abort: AbortController };
  readonly #workerLogger: Logger;
  #logger: Logger | undefined;

  constructor(
    message: TaskMessage,
    delivery: Delivery,
    readonly hostname: string,
    owner: { readonly abort: AbortController },
    workerLogger: Logger,
  ) {
    const { headers } = message;
    this.id = headers.id;
    this.name = headers.task;
    this.args = message.args;
    this.kwargs = message.kwargs;
    this.retries = headers.retries;
    this.rootId = headers.root_id;
    this.parentId = headers.parent_id;
    this.groupId = headers.group;
    this.queue = delivery.queue;
    this.redelivered = delivery.redelivered;
    this.#owner = owner;
    this.#workerLogger = workerLogger;
  }

  get signal(): AbortSignal {
    return this.#owner.abort.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#workerLogger.child({ taskId: this.id, taskName: this.name });
    return this.#logger;
  }

  retry(options?: RetryOptions): never {
    throw new Retry(options);
  }
}
