import type { SignatureDict } from '../protocol/task-message.js';
import type { CanvasHost, CanvasNode } from './canvas-node.js';
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import { Signature } from './signature.js';

/**
 * A canvas node from Celery's dict form — what arrives in message embeds (chain steps,
 * callbacks, chord bodies), from Python or from celeriac: `subtask_type` chain, group and chord
 * are rebuilt as such, anything else is a task signature.
 */
export function nodeFromDict(dict: SignatureDict, host?: CanvasHost): CanvasNode {
  const kwargs = (dict.kwargs ?? {}) as Record<string, unknown>;
  switch (dict.subtask_type) {
    case 'chain':
      return new Chain(dictList(kwargs.tasks, 'chain').map((d) => nodeFromDict(d, host)), { host, options: dict.options });
    case 'group':
      return new Group(dictList(kwargs.tasks, 'group').map((d) => nodeFromDict(d, host)), { host, options: dict.options });
    case 'chord': {
      const header = kwargs.header as SignatureDict | undefined;
      const body = kwargs.body as SignatureDict | undefined;
      if (!header || !body) throw new TypeError('chord signature without header or body');
      const headerNode = nodeFromDict(header, host);
      const members = headerNode instanceof Group ? headerNode.members : [headerNode];
      return new Chord(members, nodeFromDict(body, host), { host, groupId: headerNode instanceof Group ? headerNode.groupId : undefined });
    }
    default:
      return Signature.fromDict(dict, host);
  }
}

function dictList(value: unknown, what: string): SignatureDict[] {
  // Celery serializes a chain's/group's tasks as a list (a tuple in Python).
  if (!Array.isArray(value)) throw new TypeError(`${what} signature without a task list`);
  return value as SignatureDict[];
}

/**
 * Every task id a frozen dict will produce a result under, for marking a workflow failed
 * (a failed chain step fails the steps after it; a failed chord header fails its body).
 */
export function taskIdsOf(dict: SignatureDict): string[] {
  const kwargs = (dict.kwargs ?? {}) as Record<string, unknown>;
  switch (dict.subtask_type) {
    case 'chain':
    case 'group':
      return (kwargs.tasks as SignatureDict[] | undefined ?? []).flatMap(taskIdsOf);
    case 'chord':
      return [...taskIdsOf(kwargs.header as SignatureDict), ...taskIdsOf(kwargs.body as SignatureDict)];
    default: {
      const id = (dict.options ?? {}).task_id;
      return typeof id === 'string' ? [id] : [];
    }
  }
}

/** Group membership and chord body for a workflow's final task(s); see `withTail`. */
export interface WorkflowTail {
  groupId: string | null;
  groupIndex: number | null;
  chord: SignatureDict | null;
}

export function hasTail(tail: WorkflowTail): boolean {
  return tail.groupId !== null || tail.chord !== null;
}

/**
 * The dict with `tail` attached to the task(s) that finish it — a signature itself, a chain's
 * last step, a chord's body — as Celery does with the `group_id`, `group_index` and `chord`
 * options, so whichever worker sends that task later puts it in the group and chord.
 */
export function withTail(dict: SignatureDict, tail: WorkflowTail): SignatureDict {
  const kwargs = (dict.kwargs ?? {}) as Record<string, unknown>;
  switch (dict.subtask_type) {
    case 'chain': {
      const tasks = [...((kwargs.tasks as SignatureDict[] | undefined) ?? [])];
      if (tasks.length === 0) throw new TypeError('empty chain');
      tasks[tasks.length - 1] = withTail(tasks[tasks.length - 1]!, tail);
      return { ...dict, kwargs: { ...kwargs, tasks } };
    }
    case 'chord':
      return { ...dict, kwargs: { ...kwargs, body: withTail(kwargs.body as SignatureDict, tail) } };
    case 'group':
      throw new TypeError('a group cannot end a chain or chord body that is itself part of a group or chord header; wrap it in a chord');
    default: {
      const options: Record<string, unknown> = { ...(dict.options ?? {}) };
      if (tail.groupId !== null) {
        options.group_id = tail.groupId;
        options.group_index = tail.groupIndex;
      }
      if (tail.chord !== null) options.chord = tail.chord;
      return { ...dict, options };
    }
  }
}
