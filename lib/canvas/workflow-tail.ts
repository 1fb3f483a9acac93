import { CanvasError } from '../errors/errors.js';
import type { SignatureDict } from '../protocol/task-message.js';
import { readBranch, readSignature, type SignatureView } from './signature-tree.js';

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
  return viewWithTail(readSignature(dict), tail);
}

function viewWithTail(view: SignatureView, tail: WorkflowTail): SignatureDict {
  const { kwargs } = view.dict;
  const tailed = (nested: SignatureView): SignatureDict => viewWithTail(nested, tail);
  switch (view.kind) {
    case 'chain': {
      const tasks = view.tasks.map((branch) => branch.value);
      tasks[tasks.length - 1] = readBranch(view.tasks[view.tasks.length - 1], tailed);
      return { ...view.dict, kwargs: { ...kwargs, tasks } };
    }
    case 'chord':
      return { ...view.dict, kwargs: { ...kwargs, body: readBranch(view.body, tailed) } };
    case 'group':
      throw new CanvasError('a group cannot end a chain or chord body that is itself part of a group or chord header; wrap it in a chord');
    case 'task': {
      const options: Record<string, unknown> = { ...view.dict.options };
      if (tail.groupId !== null) {
        options.group_id = tail.groupId;
        options.group_index = tail.groupIndex;
      }
      if (tail.chord !== null) options.chord = tail.chord;
      return { ...view.dict, options };
    }
  }
}
