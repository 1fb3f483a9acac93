import { MalformedSignatureError } from '../errors/errors.js';
import type { SignatureDict } from '../protocol/task-message.js';
import { isPlainObject } from '../util/plain-object.js';

/**
 * Celery's signature dicts as a tree: the one place that reads their shape. A dict is a task
 * signature, or (by `subtask_type`) a chain, group or chord whose members sit in `kwargs`
 * (`tasks`; `header` and `body`); any of them may carry more signatures in its `options`
 * (`link`, `link_error`: callbacks and errbacks; `chord`: the chord body its final task reports
 * to). readSignature is the boundary where an untyped value becomes a typed SignatureView or a
 * MalformedSignatureError naming the field at fault; everything else in canvas and the worker's
 * workflow continuation walks views, never casts.
 */

/** Deepest nesting of signatures walked (a link of a link..., a chord body in a chain in a chord...). */
export const MAX_SIGNATURE_DEPTH = 100;

export type SignatureKind = 'task' | 'chain' | 'group' | 'chord';

/** How a signature nests another: the option or kwarg that holds it. */
export type BranchEdge = 'link' | 'link_error' | 'chord' | 'tasks' | 'header' | 'body';

/** A signature nested in another, not read yet; `field` is its path from its parent. */
export interface Branch {
  readonly edge: BranchEdge;
  readonly field: string;
  readonly value: unknown;
}

interface ViewBase {
  /** The dict as read; its fields are of the types SignatureDict names. */
  readonly dict: SignatureDict;
  /** `options.task_id`: a task's id, a group's id. */
  readonly taskId: string | null;
  /** `options.group_id` / `group_index`: the group (chord header) a final task belongs to. */
  readonly groupId: string | null;
  readonly groupIndex: number | null;
  /** `options.chord_size`: the header size a chord body was sent with. */
  readonly chordSize: number | null;
  /** `options.chord`: the chord body a final task reports to, or null. */
  readonly chord: Branch | null;
  /** `options.link` and `options.link_error` (one signature or a list, as Celery's maybe_list takes them). */
  readonly links: readonly Branch[];
  readonly errorLinks: readonly Branch[];
}

export type TaskView = ViewBase & { readonly kind: 'task' };
export type ChainView = ViewBase & { readonly kind: 'chain'; readonly tasks: readonly Branch[] };
export type GroupView = ViewBase & { readonly kind: 'group'; readonly tasks: readonly Branch[] };
/**
 * `header`: the header's signatures — one (a group dict, as celeriac writes it, or a single
 * signature), or each of a list (Celery 5.2 writes a chord's header as the list of its tasks).
 */
export type ChordView = ViewBase & { readonly kind: 'chord'; readonly header: readonly Branch[]; readonly body: Branch };
export type SignatureView = TaskView | ChainView | GroupView | ChordView;

/**
 * Reads one signature dict (not what it nests: those are Branches, read when walked). Throws
 * MalformedSignatureError for a value that is not an object, a field of the wrong type, a
 * chain without a non-empty task list, a group without a task list, a chord without a header
 * (a signature or a list of them) or a body signature, or a `link`, `link_error` or `chord` option that is not a signature (list).
 */
export function readSignature(value: unknown): SignatureView {
  if (!isPlainObject(value)) throw new MalformedSignatureError('', `must be a signature (an object), got ${typeName(value)}`);
  const { task, args, kwargs, options, subtask_type: subtaskType, immutable } = value;
  if (typeof task !== 'string' || task === '') throw new MalformedSignatureError('task', `must be a task name, got ${typeName(task)}`);
  if (args !== undefined && args !== null && !Array.isArray(args))
    throw new MalformedSignatureError('args', `must be a list, got ${typeName(args)}`);
  if (kwargs !== undefined && kwargs !== null && !isPlainObject(kwargs))
    throw new MalformedSignatureError('kwargs', `must be an object, got ${typeName(kwargs)}`);
  if (options !== undefined && options !== null && !isPlainObject(options))
    throw new MalformedSignatureError('options', `must be an object, got ${typeName(options)}`);
  if (subtaskType !== undefined && subtaskType !== null && typeof subtaskType !== 'string')
    throw new MalformedSignatureError('subtask_type', `must be a string or null, got ${typeName(subtaskType)}`);
  if (immutable !== undefined && immutable !== null && typeof immutable !== 'boolean')
    throw new MalformedSignatureError('immutable', `must be true or false, got ${typeName(immutable)}`);
  const opts: Record<string, unknown> = options ?? {};
  const inner: Record<string, unknown> = kwargs ?? {};
  // Every field SignatureDict names has been checked above; missing ones read as Celery's defaults.
  const dict: SignatureDict = {
    ...value,
    task,
    args: args ?? [],
    kwargs: inner,
    options: opts,
    subtask_type: subtaskType ?? null,
    immutable: immutable ?? false,
  };
  const base: ViewBase = {
    dict,
    taskId: optionalString(opts, 'task_id'),
    groupId: optionalString(opts, 'group_id'),
    groupIndex: optionalCount(opts, 'group_index'),
    chordSize: optionalCount(opts, 'chord_size'),
    chord: opts.chord === undefined || opts.chord === null ? null : signatureBranch('chord', 'options.chord', opts.chord),
    links: signatureList('link', 'options.link', opts.link),
    errorLinks: signatureList('link_error', 'options.link_error', opts.link_error),
  };
  switch (subtaskType) {
    case 'chain':
      if (!Array.isArray(inner.tasks) || inner.tasks.length === 0)
        throw new MalformedSignatureError('kwargs.tasks', `a chain needs a non-empty list of tasks, got ${typeName(inner.tasks)}`);
      return { ...base, kind: 'chain', tasks: branches('tasks', 'kwargs.tasks', inner.tasks) };
    case 'group':
      if (!Array.isArray(inner.tasks))
        throw new MalformedSignatureError('kwargs.tasks', `a group needs a list of tasks, got ${typeName(inner.tasks)}`);
      return { ...base, kind: 'group', tasks: branches('tasks', 'kwargs.tasks', inner.tasks) };
    case 'chord':
      if (!isPlainObject(inner.body))
        throw new MalformedSignatureError('kwargs.body', `a chord needs a body signature, got ${typeName(inner.body)}`);
      return { ...base, kind: 'chord', header: chordHeader(inner.header), body: { edge: 'body', field: 'kwargs.body', value: inner.body } };
    default:
      return { ...base, kind: 'task' };
  }
}

/** A chain's or group's tasks, a chord's header and body: the signatures that make up the node's own work. */
export function membersOf(view: SignatureView): readonly Branch[] {
  switch (view.kind) {
    case 'chain':
    case 'group':
      return view.tasks;
    case 'chord':
      return [...view.header, view.body];
    case 'task':
      return [];
  }
}

/** Where a node's work ends: a chain's last task, every task of a group, a chord's body. */
export function finalsOf(view: SignatureView): readonly Branch[] {
  switch (view.kind) {
    case 'chain':
      return view.tasks.slice(-1);
    case 'group':
      return view.tasks;
    case 'chord':
      return [view.body];
    case 'task':
      return [];
  }
}

/** Every signature a node nests: its callbacks, errbacks and chord option, then its members. */
export function branchesOf(view: SignatureView): readonly Branch[] {
  return [...view.links, ...view.errorLinks, ...(view.chord ? [view.chord] : []), ...membersOf(view)];
}

/** A signature met on a walk, at `path` (from the root given) and `depth` (the root's is 1). */
export interface Visit {
  readonly view: SignatureView;
  readonly path: string;
  readonly depth: number;
}

/**
 * Reads `root` and, depth-first in document order, every signature it nests along the branches
 * `follow` picks (membersOf, finalsOf, branchesOf), handing each to `visit`. Iterative, so a
 * hostile depth cannot overflow the call stack; a signature nested deeper than `maxDepth`, or
 * one that does not read, throws MalformedSignatureError whose field is its full path.
 */
export function walkSignatures(
  root: unknown,
  follow: (view: SignatureView) => readonly Branch[],
  visit: (visit: Visit) => void,
  options: { path?: string; maxDepth?: number } = {},
): void {
  const maxDepth = options.maxDepth ?? MAX_SIGNATURE_DEPTH;
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: options.path ?? '', depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > maxDepth) throw new MalformedSignatureError(path, `signatures nested deeper than ${maxDepth} levels`);
    let view: SignatureView;
    try {
      view = readSignature(value);
    } catch (error) {
      if (error instanceof MalformedSignatureError) throw new MalformedSignatureError(joinPath(path, error.field), error.problem);
      throw error;
    }
    visit({ view, path, depth });
    const next = follow(view);
    for (let i = next.length - 1; i >= 0; i--) stack.push({ value: next[i].value, path: joinPath(path, next[i].field), depth: depth + 1 });
  }
}

/**
 * The task signatures `follow` leads to from `root`, in document order: with membersOf every
 * task of a node, with finalsOf the tasks that finish it (an empty group has none).
 */
export function tasksAlong(
  root: unknown,
  follow: (view: SignatureView) => readonly Branch[],
  options: { maxDepth?: number } = {},
): TaskView[] {
  const tasks: TaskView[] = [];
  walkSignatures(
    root,
    follow,
    ({ view }) => {
      if (view.kind === 'task') tasks.push(view);
    },
    options,
  );
  return tasks;
}

/**
 * Every task id a frozen dict will produce a result under, for marking a workflow failed (a
 * failed chain step fails the steps after it; a failed chord header fails its body). Callbacks
 * and errbacks are not part of it: they run only when their task ends.
 */
export function taskIdsOf(dict: unknown): string[] {
  return tasksAlong(dict, membersOf).flatMap((view) => (view.taskId === null ? [] : [view.taskId]));
}

/**
 * `read` applied to the signature in `branch`; a MalformedSignatureError it throws (reading that
 * signature or anything under it) gets the branch's field prefixed, so it names the full path.
 */
export function readBranch<T>(branch: Branch, read: (view: SignatureView) => T): T {
  try {
    return read(readSignature(branch.value));
  } catch (error) {
    if (error instanceof MalformedSignatureError) throw new MalformedSignatureError(joinPath(branch.field, error.field), error.problem);
    throw error;
  }
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A bounded rendering of a bad value for an error text. */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function joinPath(path: string, field: string): string {
  if (!field) return path;
  if (!path) return field;
  return field.startsWith('[') ? `${path}${field}` : `${path}.${field}`;
}

function branches(edge: BranchEdge, field: string, values: readonly unknown[]): Branch[] {
  return values.map((value, index) => ({ edge, field: `${field}[${index}]`, value }));
}

function signatureBranch(edge: BranchEdge, field: string, value: unknown): Branch {
  if (!isPlainObject(value)) throw new MalformedSignatureError(field, `must be a signature (an object), got ${typeName(value)}`);
  return { edge, field, value };
}

/** Celery takes one signature where it expects a list of them (maybe_list), and so does this. */
function signatureList(edge: BranchEdge, field: string, value: unknown): Branch[] {
  if (value === undefined || value === null) return [];
  if (isPlainObject(value)) return [{ edge, field: `${field}[0]`, value }];
  if (!Array.isArray(value)) throw new MalformedSignatureError(field, `must be a list of signatures, got ${typeName(value)}`);
  return branches(edge, field, value);
}

function chordHeader(value: unknown): Branch[] {
  if (isPlainObject(value)) return [{ edge: 'header', field: 'kwargs.header', value }];
  if (!Array.isArray(value))
    throw new MalformedSignatureError('kwargs.header', `a chord needs a header signature or a list of them, got ${typeName(value)}`);
  return branches('header', 'kwargs.header', value);
}

function optionalString(options: Record<string, unknown>, key: string): string | null {
  const value = options[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new MalformedSignatureError(`options.${key}`, `must be a string, got ${typeName(value)}`);
  return value;
}

function optionalCount(options: Record<string, unknown>, key: string): number | null {
  const value = options[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new MalformedSignatureError(`options.${key}`, `must be a non-negative integer, got ${shown(value)}`);
  return value;
}
