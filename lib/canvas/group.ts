import { CanvasError } from '../errors/errors.js';
import type { CallOptions } from './call-options.js';
import type { SignatureDict } from '../protocol/task-message.js';
import { GroupResult } from '../result/group-result.js';
import { hostOf, requireHost, rootContext, type CanvasHost, type CanvasNode, type DispatchContext, type ResultOf } from './canvas-node.js';
import { newId } from '../util/ids.js';

/**
 * Members run in parallel; the result is a GroupResult whose `get()` lists their values in
 * group order. Each member's message carries `group` = the group id and `group_index` = its
 * position. Nested groups are flattened into this one.
 */
export class Group<R extends unknown[] = unknown[]> implements CanvasNode<R> {
  readonly members: readonly CanvasNode[];
  readonly groupId: string | undefined;
  readonly host: CanvasHost | undefined;
  /** Celery options of the group signature, kept verbatim. */
  readonly options: Readonly<Record<string, unknown>>;

  constructor(
    members: readonly CanvasNode[],
    init: { host?: CanvasHost | undefined; groupId?: string | undefined; options?: Record<string, unknown> } = {},
  ) {
    this.members = members.flatMap((member) => (member instanceof Group ? member.members : [member]));
    this.groupId = init.groupId ?? (typeof init.options?.task_id === 'string' ? init.options.task_id : undefined);
    this.host = hostOf(this.members, init.host);
    this.options = { ...init.options };
  }

  toDict(): SignatureDict {
    const options = { ...this.options };
    if (this.groupId) options.task_id = this.groupId;
    return {
      task: 'celery.group',
      args: [],
      kwargs: { tasks: this.members.map((m) => m.toDict()) },
      options,
      subtask_type: 'group',
      immutable: false,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  freeze(): Group<R> {
    return new Group<R>(
      this.members.map((m) => m.freeze()),
      { host: this.host, groupId: this.groupId ?? newId(), options: this.options },
    );
  }

  async dispatch(host: CanvasHost, context: DispatchContext): Promise<GroupResult<R>> {
    if (context.groupId !== null || context.chord !== null) {
      throw new CanvasError('a group cannot be a member of another group or chord header here; it is flattened into its parent');
    }
    const groupId = this.requireId();
    await Promise.all(this.members.map((member, index) => member.dispatch(host, { ...context, chain: null, groupId, groupIndex: index })));
    return this.resultHandle(host);
  }

  resultHandle(host: CanvasHost): GroupResult<R> {
    return new GroupResult<R>(
      this.requireId(),
      this.members.map((m) => m.resultHandle(host)),
      () => host.backend,
    );
  }

  /** Sends every member; `args` are given to each (partial members put them first). */
  applyAsync(
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<GroupResult<R>> {
    const host = requireHost(this.host, 'group');
    return this.freeze().dispatch(host, rootContext(args, kwargs, options));
  }

  delay(...args: unknown[]): Promise<GroupResult<R>> {
    return this.applyAsync(args);
  }

  private requireId(): string {
    if (!this.groupId) throw new CanvasError('group has no id yet: freeze() it first');
    return this.groupId;
  }
}

/** `group(a.s(1), b.s(2))` or `group([a.s(1), b.s(2)])`. */
export function group<T extends CanvasNode[]>(...members: T | [T]): Group<{ -readonly [K in keyof T]: ResultOf<T[K]> }> {
  const list = (members.length === 1 && Array.isArray(members[0]) ? members[0] : members) as CanvasNode[];
  return new Group(list);
}
