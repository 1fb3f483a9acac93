import { CanvasError } from '../errors/errors.js';
import type { CallOptions } from './call-options.js';
import type { SignatureDict } from '../protocol/task-message.js';
import { GroupResult } from '../result/group-result.js';
import { hostOf, requireHost, rootContext, type CanvasHost, type CanvasNode, type DispatchContext } from './canvas-node.js';
import type { ResultHandle } from '../result/result-handle.js';
import { hasTail, withTail } from './workflow-tail.js';
import { Group } from './group.js';
import { Signature } from './signature.js';
import { newId } from '../util/ids.js';

/**
 * A group (the header) and a body that runs once, after every header task, with the list of
 * header results in header order as its first argument.
 *
 * The producer records the header size in the result backend (`setChordSize`) before sending
 * any header task; each header message carries the body in its `chord` embed. The worker that
 * stores a header outcome reports it with `chordPartReturn`; the one report that completes the
 * set sends the body (or, if a header task failed, records the body as FAILURE naming it) —
 * see lib/backends/chord-counter.ts and lib/canvas/continuation.ts. An empty header sends the body
 * at once with `[]`.
 */
export class Chord<R = unknown> implements CanvasNode<R> {
  readonly header: readonly CanvasNode[];
  readonly body: CanvasNode;
  readonly groupId: string | undefined;
  readonly host: CanvasHost | undefined;

  constructor(header: readonly CanvasNode[], body: CanvasNode, init: { host?: CanvasHost | undefined; groupId?: string | undefined } = {}) {
    this.header = header.flatMap((member) => (member instanceof Group ? member.members : [member]));
    this.body = body;
    this.groupId = init.groupId;
    this.host = hostOf([...this.header, body], init.host);
  }

  toDict(): SignatureDict {
    const header = new Group(this.header, { groupId: this.groupId }).toDict();
    return {
      task: 'celery.chord',
      args: [],
      kwargs: { header, body: this.body.toDict(), kwargs: {} },
      options: {},
      subtask_type: 'chord',
      immutable: false,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  freeze(): Chord<R> {
    return new Chord<R>(
      this.header.map((m) => m.freeze()),
      this.body.freeze(),
      { host: this.host, groupId: this.groupId ?? newId() },
    );
  }

  withBody<B>(body: CanvasNode<B>): Chord<B> {
    return new Chord<B>(this.header, body, { host: this.host, groupId: this.groupId });
  }

  async dispatch(host: CanvasHost, context: DispatchContext): Promise<ResultHandle<R>> {
    if (context.chain !== null) throw new CanvasError('a chord cannot carry chain steps; they belong in its body');
    if (this.header.length === 0) {
      await this.body.dispatch(host, { ...context, args: [[]], kwargs: {} });
      return this.resultHandle(host);
    }
    const groupId = this.requireId();
    let body = this.body.toDict();
    body = { ...body, options: { ...body.options, chord_size: this.header.length } };
    if (hasTail(context)) body = withTail(body, context);
    await host.backend.setChordSize(groupId, this.header.length);
    await Promise.all(this.header.map((member, index) => member.dispatch(host, { ...context, groupId, groupIndex: index, chord: body })));
    return this.resultHandle(host);
  }

  /** The body's result, with the header's GroupResult as its parent. */
  resultHandle(host: CanvasHost): ResultHandle<R> {
    const header = new GroupResult(
      this.requireId(),
      this.header.map((m) => m.resultHandle(host)),
      () => host.backend,
    );
    if (this.body instanceof Signature) return host.asyncResult<R>(this.body.resultHandle(host).id, header);
    return this.body.resultHandle(host) as ResultHandle<R>;
  }

  /** Sends the header; `args` go to every header task. */
  applyAsync(
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<ResultHandle<R>> {
    const host = requireHost(this.host, 'chord');
    return this.freeze().dispatch(host, rootContext(args, kwargs, options));
  }

  delay(...args: unknown[]): Promise<ResultHandle<R>> {
    return this.applyAsync(args);
  }

  private requireId(): string {
    if (!this.groupId) throw new CanvasError('chord has no id yet: freeze() it first');
    return this.groupId;
  }
}

/** `chord([multiply.s(2, 2), multiply.s(3, 2)], addAll.s())`: the body gets `[4, 6]`. */
export function chord<R>(header: readonly CanvasNode[] | Group, body: CanvasNode<R>): Chord<R> {
  return new Chord<R>(header instanceof Group ? header.members : header, body);
}
