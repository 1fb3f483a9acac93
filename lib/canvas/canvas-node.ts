import { CanvasError } from '../errors/errors.js';
import type { CallOptions } from './call-options.js';
import type { MessageLineage } from '../canvas/call-options.js';
import type { ResultBackend } from '../backends/result-backend.js';
import type { SignatureDict } from '../protocol/task-message.js';
import type { AsyncResult } from '../result/async-result.js';
import type { ResultHandle } from '../result/result-handle.js';

/**
 * What canvas needs from an app: send a task with lineage, make result handles, reach the
 * result backend (group save, chord counters). App implements it; the worker uses its app.
 */
export interface CanvasHost {
  sendTask<R = unknown>(
    name: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: CallOptions,
    lineage?: MessageLineage,
  ): Promise<AsyncResult<R>>;
  /** Sends a task under a chosen id; resolves once the broker confirmed it. */
  publishTask(
    id: string,
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    lineage?: MessageLineage,
  ): Promise<void>;
  asyncResult<R = unknown>(id: string, parent?: ResultHandle | null): AsyncResult<R>;
  /** Throws when no result backend is configured; check `hasBackend` first where that is fine. */
  readonly backend: ResultBackend;
  readonly hasBackend: boolean;
  /** The app's stable id: the reply_to of what it sends, where rpc:// results come back. */
  readonly oid: string;
  /** Tasks registered here (the worker checks an errback's parameters). */
  readonly tasks: ReadonlyMap<string, { readonly fn: (...args: never[]) => unknown }>;
}

/**
 * Where a node is sent from, and what it belongs to. Producers start with an empty context;
 * the worker fills it when it sends the next step of a workflow.
 */
export interface DispatchContext {
  /** Partial arguments: for non-immutable signatures they come before the signature's own. */
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Call options that override the node's own. */
  options: CallOptions;
  parentId: string | null;
  rootId: string | null;
  /** Group membership of the node's final task(s). */
  groupId: string | null;
  groupIndex: number | null;
  /** Chord body to fire when the node's final task completes the chord's header. */
  chord: SignatureDict | null;
  /** Remaining chain steps (reversed) to embed in the node's message; signatures only. */
  chain: SignatureDict[] | null;
  /** The client that started the workflow (its results come back there with rpc://); null: this app. */
  replyTo: string | null;
}

export function rootContext(
  args: readonly unknown[] = [],
  kwargs: Readonly<Record<string, unknown>> = {},
  options: CallOptions = {},
): DispatchContext {
  return {
    args: [...args],
    kwargs: { ...kwargs },
    options,
    parentId: null,
    rootId: null,
    groupId: null,
    groupIndex: null,
    chord: null,
    chain: null,
    replyTo: null,
  };
}

/**
 * A chain, group, chord or single signature. Nodes are immutable values; `freeze()` returns a
 * copy with every task id (and group id) assigned, so results are known before sending and a
 * re-send keeps the ids (the ids are the idempotency keys).
 */
export interface CanvasNode<R = unknown> {
  /** Celery's dict form, readable by Python Celery. */
  toDict(): SignatureDict;
  freeze(): CanvasNode<R>;
  /** Sends a frozen node. */
  dispatch(host: CanvasHost, context: DispatchContext): Promise<ResultHandle<R>>;
  /** The handle of a frozen node's result, without sending anything. */
  resultHandle(host: CanvasHost): ResultHandle<R>;
  /** The app this node sends through, when it was built from tasks (`task.s()`). */
  readonly host: CanvasHost | undefined;
}

/** The result type of a node. */
export type ResultOf<N> = N extends CanvasNode<infer R> ? R : never;

/** The host of the first node that has one. */
export function hostOf(nodes: readonly CanvasNode[], explicit?: CanvasHost): CanvasHost | undefined {
  return explicit ?? nodes.find((node) => node.host !== undefined)?.host;
}

export function requireHost(host: CanvasHost | undefined, what: string): CanvasHost {
  if (!host) throw new CanvasError(`${what} is not bound to an app: build it from task signatures (task.s()) or pass { app }`);
  return host;
}
