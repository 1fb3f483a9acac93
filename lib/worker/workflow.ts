import type { ExceptionInfo } from '../backends/result-backend.js';
import { rootContext, type CanvasHost, type DispatchContext } from '../canvas/canvas-node.js';
import { Chain } from '../canvas/chain.js';
import { nodeFromDict, taskIdsOf } from '../canvas/from-dict.js';
import { Signature } from '../canvas/signature.js';
import { exceptionMessage, isExceptionInfo } from '../protocol/exception-info.js';
import { PROPAGATE_STATES, type TaskState } from '../protocol/states.js';
import type { SignatureDict, TaskMessage } from '../protocol/task-message.js';
import { failureMetaFor } from './outcome.js';

/**
 * What happens after a task's outcome is stored and before its message is acked: the work its
 * message embeds. Everything here is sent with preset task ids, so a redelivered message that
 * runs it again re-sends the same ids (at-least-once; ids are the idempotency keys).
 *
 * - SUCCESS: callbacks (link) get the result first; the next chain step gets it first and the
 *   rest of the chain; a chord header task reports to the chord counter, and the report that
 *   completes the header sends the body with every header result, in header order.
 * - FAILURE / REVOKED: errbacks (link_error) get the task id; the remaining chain steps are
 *   recorded with the same failure (they never run); a chord header task reports the failure,
 *   and the completing report records the body as FAILURE with a ChordError naming the task.
 */
export async function continueWorkflow(host: CanvasHost, message: TaskMessage, state: TaskState, result: unknown, traceback: string | null): Promise<void> {
  const { headers, embed } = message;
  const lineage: Lineage = { parentId: headers.id, rootId: headers.root_id, replyTo: message.replyTo ?? null };
  if (state === 'SUCCESS') {
    for (const callback of embed.callbacks ?? []) await send(host, callback, { ...lineage, args: [result] });
    if (embed.chain?.length) await sendNextStep(host, embed.chain, { ...lineage, args: [result] });
  } else {
    const info = isExceptionInfo(result) ? result : { exc_type: state, exc_message: [state], exc_module: null };
    if (state === 'FAILURE') {
      for (const errback of embed.errbacks ?? []) await send(host, errback, { ...lineage, args: errbackArgs(host, errback, headers.id, info) });
    }
    for (const step of embed.chain ?? []) await failWorkflow(host, step, info, traceback, { callErrbacks: false, ...lineage });
  }
  if (embed.chord && headers.group) {
    await reportChordPart(host, { taskId: headers.id, groupId: headers.group, groupIndex: headers.group_index }, embed.chord, state, result, lineage);
  }
}

interface Lineage {
  parentId: string;
  rootId: string;
  /** Where results of this workflow go (rpc://): the client that sent it. */
  replyTo: string | null;
}

async function send(host: CanvasHost, dict: SignatureDict, context: Lineage & { args: unknown[]; chain?: SignatureDict[] | null }): Promise<void> {
  const node = nodeFromDict(dict, host).freeze();
  await node.dispatch(host, dispatchContext(context));
}

function dispatchContext(context: Lineage & { args: unknown[]; chain?: SignatureDict[] | null }): DispatchContext {
  return { ...rootContext(context.args), parentId: context.parentId, rootId: context.rootId, chain: context.chain ?? null, replyTo: context.replyTo };
}

/** Pops the next step (the last element: the embed is reversed) and sends it with the rest. */
async function sendNextStep(host: CanvasHost, chain: readonly SignatureDict[], context: Lineage & { args: unknown[] }): Promise<void> {
  const rest = [...chain];
  const next = nodeFromDict(rest.pop()!, host).freeze();
  if (rest.length === 0 || next instanceof Signature) {
    await next.dispatch(host, dispatchContext({ ...context, chain: rest.length ? rest : null }));
    return;
  }
  // A group or chord followed by more steps: let Chain's normal form turn it into a chord.
  const steps = [next, ...rest.reverse().map((d) => nodeFromDict(d, host))];
  await new Chain(steps, { host }).freeze().dispatch(host, dispatchContext(context));
}

interface HeaderTask {
  taskId: string;
  groupId: string;
  groupIndex: number | null;
}

async function reportChordPart(host: CanvasHost, part: HeaderTask, body: SignatureDict, state: TaskState, result: unknown, lineage: Lineage): Promise<void> {
  const { groupId } = part;
  const size = (body.options ?? {}).chord_size;
  const outcomes = await host.backend.chordPartReturn({ ...part, size: typeof size === 'number' ? size : null, state, result });
  if (!outcomes) return;
  const failed = outcomes.find((outcome) => PROPAGATE_STATES.has(outcome.state));
  if (failed) {
    const why = isExceptionInfo(failed.result) ? `${failed.result.exc_type}: ${exceptionMessage(failed.result)}` : failed.state;
    const info: ExceptionInfo = { exc_type: 'ChordError', exc_message: [`Dependency ${failed.taskId} raised ${why}`], exc_module: 'celery.exceptions' };
    await failWorkflow(host, body, info, null, { callErrbacks: true, ...lineage });
  } else {
    await send(host, body, { ...lineage, args: [outcomes.map((outcome) => outcome.result)] });
  }
  await host.backend.chordDone(groupId);
}

/**
 * Records every task of a workflow part that will never run as FAILURE with `info`, runs its
 * errbacks when asked, and passes the failure on to the group/chord its final task belongs to.
 */
async function failWorkflow(
  host: CanvasHost,
  dict: SignatureDict,
  info: ExceptionInfo,
  traceback: string | null,
  options: Lineage & { callErrbacks: boolean },
): Promise<void> {
  if (host.hasBackend) {
    const ids = taskIdsOf(dict);
    const context = options.replyTo ? { replyTo: options.replyTo } : {};
    await Promise.all(ids.map((id) => host.backend.storeResult(failureMetaFor(id, info, traceback, options.parentId), { ...context, correlationId: id })));
  }
  for (const final of finalTasks(dict)) {
    const finalOptions = (final.options ?? {}) as Record<string, unknown>;
    const taskId = finalOptions.task_id as string | undefined;
    if (options.callErrbacks && taskId) {
      for (const errback of (finalOptions.link_error as SignatureDict[] | undefined) ?? []) {
        await send(host, errback, { ...options, args: errbackArgs(host, errback, taskId, info) });
      }
    }
    const chordBody = finalOptions.chord as SignatureDict | undefined;
    const groupId = finalOptions.group_id as string | undefined;
    if (chordBody && groupId && taskId) {
      const groupIndex = (finalOptions.group_index as number | null | undefined) ?? null;
      await reportChordPart(host, { taskId, groupId, groupIndex }, chordBody, 'FAILURE', info, options);
    }
  }
}

/**
 * An errback gets the failed task's id first (Celery's convention, which Python errbacks
 * expect). One registered here whose function takes two parameters and that has no arguments
 * of its own also gets the error, as `{exc_type, exc_message, exc_module}` — like Celery calls
 * errbacks that accept more than the id with the error.
 */
function errbackArgs(host: CanvasHost, errback: SignatureDict, failedId: string, info: ExceptionInfo): unknown[] {
  const fn = host.tasks.get(errback.task)?.fn;
  const ownArgs = Array.isArray(errback.args) ? errback.args.length : 0;
  return fn && fn.length >= 2 && ownArgs === 0 && errback.immutable !== true ? [failedId, info] : [failedId];
}

/** The task dicts that finish a workflow part: a signature itself, a chain's last, a chord's body's. */
function finalTasks(dict: SignatureDict): SignatureDict[] {
  const kwargs = (dict.kwargs ?? {}) as Record<string, unknown>;
  switch (dict.subtask_type) {
    case 'chain': {
      const tasks = (kwargs.tasks as SignatureDict[] | undefined) ?? [];
      return tasks.length ? finalTasks(tasks[tasks.length - 1]!) : [];
    }
    case 'group':
      return ((kwargs.tasks as SignatureDict[] | undefined) ?? []).flatMap(finalTasks);
    case 'chord':
      return finalTasks(kwargs.body as SignatureDict);
    default:
      return [dict];
  }
}
