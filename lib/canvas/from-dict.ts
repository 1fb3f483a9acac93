import type { SignatureDict } from '../protocol/task-message.js';
import type { CanvasHost, CanvasNode } from './canvas-node.js';
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import { Signature } from './signature.js';
import { readBranch, readSignature, type Branch, type SignatureView } from './signature-tree.js';

/**
 * A canvas node from Celery's dict form — what arrives in message embeds (chain steps,
 * callbacks, chord bodies), from Python or from celeriac, or from the CLI: `subtask_type`
 * chain, group and chord are rebuilt as such, anything else is a task signature. A dict that
 * does not read as a signature throws MalformedSignatureError naming the field at fault.
 *
 * The node classes never import this module (it imports them), so canvas has no import cycle.
 */
export function nodeFromDict(dict: SignatureDict, host?: CanvasHost): CanvasNode {
  return nodeFromView(readSignature(dict), host);
}

function nodeFromView(view: SignatureView, host: CanvasHost | undefined): CanvasNode {
  const node = (branch: Branch): CanvasNode => readBranch(branch, (nested) => nodeFromView(nested, host));
  switch (view.kind) {
    case 'chain':
      return new Chain(view.tasks.map(node), { host, options: view.dict.options });
    case 'group':
      return new Group(view.tasks.map(node), { host, options: view.dict.options });
    case 'chord': {
      const header = view.header.map(node);
      const only = header.length === 1 ? header[0] : undefined;
      // The Chord flattens a group in its header into its members; a lone group names the chord's group.
      return new Chord(header, node(view.body), { host, groupId: only instanceof Group ? only.groupId : undefined });
    }
    case 'task':
      return Signature.fromDict(view.dict, host);
  }
}
