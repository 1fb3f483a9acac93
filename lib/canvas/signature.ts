import type { CallOptions } from '../app/call-options.js';
import type { SignatureDict } from '../protocol/task-message.js';
import type { AsyncResult } from '../result/async-result.js';
import { callOptionsToCelery, celeryOptionsToCall } from './signature-options.js';

/** Whatever can send a task by name: an App. Kept as an interface so canvas does not depend on app. */
export interface TaskSender {
  sendTask<R = unknown>(name: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Promise<AsyncResult<R>>;
}

/**
 * A task call described as data: name, arguments and call options, in Celery's dict form
 * when serialized (`toJSON()` → `{task, args, kwargs, options, subtask_type, immutable}`).
 *
 * Invariant: a Signature is never mutated after construction; `set` returns a new one.
 * Partial (`task.s(...)`): args given when it is applied (e.g. the parent's result in a chain)
 * come first, then its own, as in Celery. Immutable (`task.si(...)`): applied args are ignored.
 */
export class Signature<R = unknown> {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<CallOptions>;
  readonly immutable: boolean;
  readonly subtaskType: string | null;
  /** Not serialized: where applyAsync sends. */
  readonly #sender: TaskSender | undefined;

  constructor(
    init: {
      task: string;
      args?: readonly unknown[];
      kwargs?: Readonly<Record<string, unknown>>;
      options?: Readonly<CallOptions>;
      immutable?: boolean;
      subtaskType?: string | null;
    },
    sender?: TaskSender,
  ) {
    this.task = init.task;
    this.args = Object.freeze([...(init.args ?? [])]);
    this.kwargs = Object.freeze({ ...(init.kwargs ?? {}) });
    this.options = Object.freeze({ ...(init.options ?? {}) });
    this.immutable = init.immutable ?? false;
    this.subtaskType = init.subtaskType ?? null;
    this.#sender = sender;
  }

  static fromDict<R = unknown>(dict: SignatureDict, sender?: TaskSender): Signature<R> {
    return new Signature<R>(
      {
        task: dict.task,
        args: dict.args ?? [],
        kwargs: dict.kwargs ?? {},
        options: celeryOptionsToCall(dict.options ?? {}),
        immutable: dict.immutable === true,
        subtaskType: dict.subtask_type ?? null,
      },
      sender,
    );
  }

  /** Celery's dict form. */
  toDict(): SignatureDict {
    return {
      task: this.task,
      args: [...this.args],
      kwargs: { ...this.kwargs },
      options: callOptionsToCelery(this.options),
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  /** A copy with call options merged over this one's. */
  set(options: CallOptions): Signature<R> {
    return this.derive({ options: { ...this.options, ...options } });
  }

  /**
   * The arguments a call with `extraArgs`/`extraKwargs` runs with: for a partial signature the
   * extra args come first (Celery: `args + self.args`), for an immutable one they are ignored.
   */
  merged(extraArgs: readonly unknown[] = [], extraKwargs: Readonly<Record<string, unknown>> = {}): {
    args: unknown[];
    kwargs: Record<string, unknown>;
  } {
    if (this.immutable) return { args: [...this.args], kwargs: { ...this.kwargs } };
    return { args: [...extraArgs, ...this.args], kwargs: { ...this.kwargs, ...extraKwargs } };
  }

  /** Sends the task; needs a signature made by a task or app (`task.s()`), not a bare dict. */
  applyAsync(args: readonly unknown[] = [], kwargs: Readonly<Record<string, unknown>> = {}, options: CallOptions = {}): Promise<AsyncResult<R>> {
    if (!this.#sender) {
      return Promise.reject(new TypeError(`signature ${this.task} is not bound to an app; build it with task.s() or pass an app`));
    }
    const merged = this.merged(args, kwargs);
    return this.#sender.sendTask<R>(this.task, merged.args, merged.kwargs, { ...this.options, ...options });
  }

  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  private derive(changes: { options?: CallOptions }): Signature<R> {
    return new Signature<R>(
      {
        task: this.task,
        args: this.args,
        kwargs: this.kwargs,
        options: changes.options ?? this.options,
        immutable: this.immutable,
        subtaskType: this.subtaskType,
      },
      this.#sender,
    );
  }
}
