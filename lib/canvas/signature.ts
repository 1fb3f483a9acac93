import { CanvasError } from '../errors/errors.js';
import type { CallOptions } from './call-options.js';
import type { SignatureDict } from '../protocol/task-message.js';
import type { AsyncResult } from '../result/async-result.js';
import { rootContext, requireHost, type CanvasHost, type CanvasNode, type DispatchContext } from './canvas-node.js';
import { callOptionsToCelery, celeryOptionsToCall } from './signature-options.js';
import { readBranch, readSignature, type SignatureView } from './signature-tree.js';
import { newId } from '../util/ids.js';

/** Option keys of a Celery signature dict that are not call options but are kept verbatim. */
const WORKFLOW_KEYS = ['group_id', 'group_index', 'chord'] as const;

/**
 * A task call described as data: name, arguments and call options, in Celery's dict form
 * when serialized (`toJSON()` → `{task, args, kwargs, options, subtask_type, immutable}`).
 *
 * Invariant: a Signature is never mutated after construction; `set`/`freeze` return new ones.
 * Partial (`task.s(...)`): args given when it is applied (e.g. the parent's result in a chain)
 * come first, then its own, as in Celery. Immutable (`task.si(...)`): applied args are ignored.
 */
export class Signature<R = unknown> implements CanvasNode<R> {
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<CallOptions>;
  readonly immutable: boolean;
  readonly subtaskType: string | null;
  /** Celery-only options carried verbatim (group_id, group_index, chord, reply_to, ...). */
  readonly extra: Readonly<Record<string, unknown>>;
  readonly host: CanvasHost | undefined;

  constructor(
    init: {
      task: string;
      args?: readonly unknown[];
      kwargs?: Readonly<Record<string, unknown>>;
      options?: Readonly<CallOptions>;
      immutable?: boolean;
      subtaskType?: string | null;
      extra?: Readonly<Record<string, unknown>>;
    },
    host?: CanvasHost,
  ) {
    this.task = init.task;
    this.args = Object.freeze([...(init.args ?? [])]);
    this.kwargs = Object.freeze({ ...init.kwargs });
    this.options = Object.freeze({ ...init.options });
    this.immutable = init.immutable ?? false;
    this.subtaskType = init.subtaskType ?? null;
    this.extra = Object.freeze({ ...init.extra });
    this.host = host;
  }

  /**
   * A plain task signature from Celery's dict form (link and link_error included; a dict of
   * another kind is kept as a signature of that subtask_type). Throws MalformedSignatureError
   * for a dict that does not read as a signature (signature-tree.ts).
   */
  static fromDict<R = unknown>(dict: SignatureDict, host?: CanvasHost): Signature<R> {
    return signatureFromView<R>(readSignature(dict), host);
  }

  get id(): string | undefined {
    return this.options.taskId;
  }

  /** Celery's dict form. */
  toDict(): SignatureDict {
    const { link, linkError, ...callOptions } = this.options;
    const options: Record<string, unknown> = { ...callOptionsToCelery(callOptions), ...this.extra };
    if (link) options.link = asList(link).map((s) => s.toDict());
    if (linkError) options.link_error = asList(linkError).map((s) => s.toDict());
    return {
      task: this.task,
      args: [...this.args],
      kwargs: { ...this.kwargs },
      options,
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

  /** A copy that also sends `callback` with this task's result when it succeeds. */
  link<C>(callback: Signature<C>): Signature<R> {
    return this.set({ link: [...asList(this.options.link), callback] });
  }

  /** A copy that also sends `errback` with this task's id when it fails. */
  onError<C>(errback: Signature<C>): Signature<R> {
    return this.set({ linkError: [...asList(this.options.linkError), errback] });
  }

  /**
   * Assigns the task id, and (as Celery does) `reply_to` = the app's id, so whichever worker —
   * Node or Python — sends this step later addresses its result to the app that built it.
   */
  freeze(): Signature<R> {
    const needsReplyTo = this.host !== undefined && this.extra.reply_to === undefined;
    if (this.options.taskId && !needsReplyTo) return this;
    return new Signature<R>(
      {
        ...this.init(),
        options: { ...this.options, taskId: this.options.taskId ?? newId() },
        extra: needsReplyTo ? { ...this.extra, reply_to: this.host.oid } : this.extra,
      },
      this.host,
    );
  }

  /** Sends this task as part of a workflow; see DispatchContext. */
  dispatch(host: CanvasHost, context: DispatchContext): Promise<AsyncResult<R>> {
    const merged = this.merged(context.args, context.kwargs);
    const { taskId: _ignored, ...overrides } = context.options;
    const options: CallOptions = { ...this.options, ...overrides };
    // Celery's workflow options, kept verbatim in `extra`: read with their types, the chord body as a signature.
    const { group_id: groupId, group_index: groupIndex, chord, reply_to: replyTo } = this.extra;
    return host.sendTask<R>(this.task, merged.args, merged.kwargs, options, {
      parentId: context.parentId,
      rootId: context.rootId,
      group: context.groupId ?? (typeof groupId === 'string' ? groupId : null),
      groupIndex: context.groupIndex ?? (typeof groupIndex === 'number' ? groupIndex : null),
      chain: context.chain,
      chord: context.chord ?? (chord === undefined || chord === null ? null : readSignature(chord).dict),
      replyTo: context.replyTo ?? (typeof replyTo === 'string' ? replyTo : null),
    });
  }

  resultHandle(host: CanvasHost): AsyncResult<R> {
    const id = this.options.taskId;
    if (!id) throw new CanvasError(`signature ${this.task} has no task id yet: freeze() it first`);
    return host.asyncResult<R>(id);
  }

  /**
   * The arguments a call with `extraArgs`/`extraKwargs` runs with: for a partial signature the
   * extra args come first (Celery: `args + self.args`), for an immutable one they are ignored.
   */
  merged(
    extraArgs: readonly unknown[] = [],
    extraKwargs: Readonly<Record<string, unknown>> = {},
  ): {
    args: unknown[];
    kwargs: Record<string, unknown>;
  } {
    if (this.immutable) return { args: [...this.args], kwargs: { ...this.kwargs } };
    return { args: [...extraArgs, ...this.args], kwargs: { ...this.kwargs, ...extraKwargs } };
  }

  /** Sends the task; needs a signature made by a task (`task.s()`), not a bare dict. */
  async applyAsync(
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<AsyncResult<R>> {
    const host = requireHost(this.host, `signature ${this.task}`);
    return this.set(options).freeze().dispatch(host, rootContext(args, kwargs));
  }

  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** A copy whose final task carries group membership and chord body (see withTail in workflow-tail.ts). */
  withWorkflow(workflow: { group_id?: string | null; group_index?: number | null; chord?: SignatureDict | null }): Signature<R> {
    const extra: Record<string, unknown> = { ...this.extra };
    for (const key of WORKFLOW_KEYS) {
      const value = workflow[key];
      if (value !== undefined && value !== null) extra[key] = value;
    }
    return new Signature<R>({ ...this.init(), extra }, this.host);
  }

  private derive(changes: { options?: CallOptions }): Signature<R> {
    return new Signature<R>({ ...this.init(), options: changes.options ?? this.options }, this.host);
  }

  private init() {
    return {
      task: this.task,
      args: this.args,
      kwargs: this.kwargs,
      options: this.options,
      immutable: this.immutable,
      subtaskType: this.subtaskType,
      extra: this.extra,
    };
  }
}

/** Celery option keys that map to CallOptions (or links); everything else goes to `extra`. */
const KNOWN_CELERY_OPTIONS: ReadonlySet<string> = new Set([
  'queue',
  'routing_key',
  'exchange',
  'priority',
  'countdown',
  'eta',
  'expires',
  'task_id',
  'serializer',
  'delivery_mode',
  'ignore_result',
  'link',
  'link_error',
]);

function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function signatureFromView<R>(view: SignatureView, host: CanvasHost | undefined): Signature<R> {
  const { dict } = view;
  const options: CallOptions = celeryOptionsToCall(dict.options);
  const linked = (nested: SignatureView): Signature => signatureFromView(nested, host);
  const links = view.links.map((branch) => readBranch(branch, linked));
  const errorLinks = view.errorLinks.map((branch) => readBranch(branch, linked));
  if (links.length) options.link = links;
  if (errorLinks.length) options.linkError = errorLinks;
  const extra: Record<string, unknown> = {};
  for (const key of Object.keys(dict.options)) {
    if (!KNOWN_CELERY_OPTIONS.has(key)) extra[key] = dict.options[key];
  }
  return new Signature<R>(
    { task: dict.task, args: dict.args, kwargs: dict.kwargs, options, immutable: dict.immutable, subtaskType: dict.subtask_type, extra },
    host,
  );
}
