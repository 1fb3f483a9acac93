import { CanvasError } from '../errors/errors.js';
import type { CallOptions } from './call-options.js';
import type { SignatureDict } from '../protocol/task-message.js';
import { hostOf, requireHost, rootContext, type CanvasHost, type CanvasNode, type DispatchContext, type ResultOf } from './canvas-node.js';
import type { ResultHandle } from '../result/result-handle.js';
import { Chord } from './chord.js';
import { hasTail, withTail } from './workflow-tail.js';
import { Group } from './group.js';
import { Signature } from './signature.js';

/**
 * Steps run one after another, each getting the previous result as its first argument
 * (unless immutable). Only the first step is sent; the rest travel in its message's `chain`
 * embed, reversed, and each worker sends the next step after storing its own result.
 *
 * Normal form (as in Celery): nested chains are flattened; a group followed by more steps
 * becomes a chord whose body is the rest; a chord followed by more steps takes them into its
 * body. So every step but the last is a task signature.
 */
export class Chain<R = unknown> implements CanvasNode<R> {
  readonly steps: readonly CanvasNode[];
  readonly host: CanvasHost | undefined;
  readonly options: Readonly<Record<string, unknown>>;

  constructor(steps: readonly CanvasNode[], init: { host?: CanvasHost | undefined; options?: Record<string, unknown> } = {}) {
    if (steps.length === 0) throw new CanvasError('a chain needs at least one step');
    this.host = hostOf(steps, init.host);
    this.steps = normalize(steps, this.host);
    this.options = { ...init.options };
  }

  toDict(): SignatureDict {
    return {
      task: 'celery.chain',
      args: [],
      kwargs: { tasks: this.steps.map((s) => s.toDict()) },
      options: { ...this.options },
      subtask_type: 'chain',
      immutable: false,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  freeze(): Chain<R> {
    return new Chain<R>(
      this.steps.map((s) => s.freeze()),
      { host: this.host, options: this.options },
    );
  }

  async dispatch(host: CanvasHost, context: DispatchContext): Promise<ResultHandle<R>> {
    const [first, ...rest] = this.steps;
    if (rest.length === 0) return first.dispatch(host, context) as Promise<ResultHandle<R>>;
    if (!(first instanceof Signature)) throw new CanvasError('a chain of several steps must start with a task signature');
    const remaining = rest.map((step) => step.toDict());
    if (hasTail(context)) remaining[remaining.length - 1] = withTail(remaining[remaining.length - 1], context);
    await first.dispatch(host, { ...context, groupId: null, groupIndex: null, chord: null, chain: remaining.reverse() });
    return this.resultHandle(host);
  }

  /** The last step's result; each step's handle has the previous one as `parent`. */
  resultHandle(host: CanvasHost): ResultHandle<R> {
    let parent: ResultHandle | null = null;
    for (const step of this.steps) {
      parent = step instanceof Signature ? host.asyncResult(step.resultHandle(host).id, parent) : step.resultHandle(host);
    }
    return parent as ResultHandle<R>;
  }

  /** Sends the chain; `args` go to the first step. */
  applyAsync(
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<ResultHandle<R>> {
    const host = requireHost(this.host, 'chain');
    return this.freeze().dispatch(host, rootContext(args, kwargs, options));
  }

  delay(...args: unknown[]): Promise<ResultHandle<R>> {
    return this.applyAsync(args);
  }
}

function normalize(steps: readonly CanvasNode[], host: CanvasHost | undefined): CanvasNode[] {
  const flat = steps.flatMap((step) => (step instanceof Chain ? step.steps : [step]));
  const out: CanvasNode[] = [];
  for (let i = 0; i < flat.length; i++) {
    const step = flat[i];
    const rest = flat.slice(i + 1);
    if (rest.length > 0 && step instanceof Group) {
      out.push(new Chord(step.members, rest.length === 1 ? rest[0] : new Chain(rest, { host }), { host, groupId: step.groupId }));
      break;
    }
    if (rest.length > 0 && step instanceof Chord) {
      out.push(step.withBody(new Chain([step.body, ...rest], { host })));
      break;
    }
    out.push(step);
  }
  return out;
}

type Last<T extends unknown[]> = T extends [...unknown[], infer L] ? L : never;

/** `chain(multiply.s(2, 2), add.s(10))`: each step gets the previous result first. */
export function chain<T extends [CanvasNode, ...CanvasNode[]]>(...steps: T): Chain<ResultOf<Last<T>>> {
  return new Chain(steps);
}
