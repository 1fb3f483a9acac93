import { MalformedSignatureError, UnsendableError } from '../errors/errors.js';
import { celeryUtcNow } from '../protocol/dates.js';
import { errorToExceptionInfo, exceptionMessage, isExceptionInfo } from '../protocol/exception-info.js';
import { PROPAGATE_STATES, type TaskState } from '../protocol/states.js';
import type { SignatureDict, TaskMessage } from '../protocol/task-message.js';
import type { ExceptionInfo, TaskMeta } from '../protocol/task-meta.js';
import { errorText, truncateText } from '../util/truncate.js';
import { rootContext, type CanvasHost, type DispatchContext } from './canvas-node.js';
import { Chain } from './chain.js';
import { nodeFromDict } from './from-dict.js';
import { Signature } from './signature.js';
import { finalsOf, readBranch, tasksAlong, taskIdsOf, type TaskView } from './signature-tree.js';

/**
 * Whether an error met while passing a workflow on is an outage a later attempt could get past
 * (the worker's rule, lib/worker/fault-kind.ts): then the message is requeued; otherwise the
 * part is unsendable.
 */
export type IsRetryableFault = (error: unknown) => boolean;

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
 *
 * Each part is passed on on its own. A part that fails for a reason no retry can fix
 * (isRetryableFault false: a bad option, an exchange that does not exist...) does not stop the
 * others: its task ids are recorded FAILURE with an UnsendableError (a chord body's with
 * Celery's `ChordError: Callback error: ...`), and it is returned, so the caller dead-letters
 * the message rather than requeueing it — the task's body, which already ran, is not run again.
 * Only an outage (a retryable fault) rejects, and the message is requeued.
 */
export async function continueWorkflow(
  host: CanvasHost,
  message: TaskMessage,
  state: TaskState,
  result: unknown,
  traceback: string | null,
  isRetryableFault: IsRetryableFault,
): Promise<UnsendableError[]> {
  const { headers, embed } = message;
  const lineage: Lineage = { parentId: headers.id, rootId: headers.root_id, replyTo: message.replyTo ?? null };
  const sender = new WorkflowSender(host, `${headers.task}[${headers.id}]`, isRetryableFault);
  if (state === 'SUCCESS') {
    for (const callback of embed.callbacks ?? []) {
      await sender.attempt(
        'callback',
        callback,
        () => sender.send(callback, { ...lineage, args: [result] }),
        (info) => sender.fail(callback, info, null, { callErrbacks: false, ...lineage }),
      );
    }
    const chain = embed.chain;
    if (chain?.length) {
      await sender.attempt(
        'chain',
        chain[chain.length - 1],
        () => sender.sendNextStep(chain, { ...lineage, args: [result] }),
        async (info) => {
          // The steps will never run: each is recorded failed, as a failed step fails the rest.
          for (const step of chain)
            await sender.attempt('chain', step, () => sender.fail(step, info, null, { callErrbacks: false, ...lineage }));
        },
      );
    }
  } else {
    const info = isExceptionInfo(result) ? result : { exc_type: state, exc_message: [state], exc_module: null };
    if (state === 'FAILURE') {
      for (const errback of embed.errbacks ?? []) {
        await sender.attempt(
          'errback',
          errback,
          () => sender.send(errback, { ...lineage, args: errbackArgs(host, errback, headers.id, info) }),
          (failure) => sender.fail(errback, failure, null, { callErrbacks: false, ...lineage }),
        );
      }
    }
    for (const step of embed.chain ?? [])
      await sender.attempt('chain', step, () => sender.fail(step, info, traceback, { callErrbacks: false, ...lineage }));
  }
  if (embed.chord && headers.group) {
    const body = embed.chord;
    const part = { taskId: headers.id, groupId: headers.group, groupIndex: headers.group_index };
    await sender.attempt('chord-report', body, () => sender.reportChordPart(part, body, state, result, lineage));
  }
  return sender.unsendable;
}

interface Lineage {
  parentId: string;
  rootId: string;
  /** Where results of this workflow go (rpc://): the client that sent it. */
  replyTo: string | null;
}

interface HeaderTask {
  taskId: string;
  groupId: string;
  groupIndex: number | null;
}

/** Longest error text kept per unsendable part (it ends up in a dead-letter header). */
const MAX_PART_ERROR_CHARS = 500;
/** Longest task name, and task id, quoted in an unsendable part's error text. */
const MAX_PART_NAME_CHARS = 200;
const MAX_PART_ID_CHARS = 80;

/** Sends the parts of one task's workflow and collects those that cannot be sent. */
class WorkflowSender {
  readonly unsendable: UnsendableError[] = [];

  constructor(
    readonly host: CanvasHost,
    /** `name[id]` of the task whose workflow this is, for error texts. */
    readonly origin: string,
    readonly isRetryableFault: IsRetryableFault,
  ) {}

  /**
   * Runs `work`. A retryable fault rejects (the caller requeues); any other error makes the part
   * unsendable: it is collected, and `onFailure` records its failure (best effort: what fails
   * there for good is added to the text; an outage rejects).
   */
  async attempt(
    part: UnsendableError['part'],
    dict: SignatureDict,
    work: () => Promise<void>,
    onFailure?: (info: ExceptionInfo) => Promise<void>,
  ): Promise<void> {
    try {
      await work();
      return;
    } catch (error) {
      if (this.isRetryableFault(error)) throw error;
      const failure = new UnsendableError(
        part,
        nameOf(dict),
        `${PART_NAMES[part]} ${describe(dict)} of ${this.origin} cannot be sent: ${errorText(error, MAX_PART_ERROR_CHARS)}`,
        { cause: error },
      );
      this.unsendable.push(failure);
      if (!onFailure) return;
      try {
        await onFailure(part === 'chord-body' ? chordCallbackError(error) : errorToExceptionInfo(failure));
      } catch (recording) {
        if (this.isRetryableFault(recording)) throw recording;
        failure.message += ` (recording its failure failed too: ${errorText(recording, MAX_PART_ERROR_CHARS)})`;
      }
    }
  }

  async send(dict: SignatureDict, context: Lineage & { args: unknown[]; chain?: SignatureDict[] | null }): Promise<void> {
    const node = nodeFromDict(dict, this.host).freeze();
    await node.dispatch(this.host, dispatchContext(context));
  }

  /** Pops the next step (the last element: the embed is reversed) and sends it with the rest. */
  async sendNextStep(chain: readonly SignatureDict[], context: Lineage & { args: unknown[] }): Promise<void> {
    const rest = [...chain];
    const nextDict = rest.pop()!;
    const next = nodeFromDict(nextDict, this.host).freeze();
    if (rest.length === 0 || next instanceof Signature) {
      await next.dispatch(this.host, dispatchContext({ ...context, chain: rest.length ? rest : null }));
      return;
    }
    // A group or chord followed by more steps: let Chain's normal form turn it into a chord.
    const steps = [next, ...rest.reverse().map((d) => nodeFromDict(d, this.host))];
    await new Chain(steps, { host: this.host }).freeze().dispatch(this.host, dispatchContext(context));
  }

  async reportChordPart(part: HeaderTask, body: SignatureDict, state: TaskState, result: unknown, lineage: Lineage): Promise<void> {
    const { host } = this;
    const size = typeof body.options?.chord_size === 'number' ? body.options.chord_size : null;
    const outcomes = await host.backend.chordPartReturn({ ...part, size, state, result });
    if (!outcomes) return;
    const failed = outcomes.find((outcome) => PROPAGATE_STATES.has(outcome.state));
    if (failed) {
      const why = isExceptionInfo(failed.result) ? `${failed.result.exc_type}: ${exceptionMessage(failed.result)}` : failed.state;
      const info: ExceptionInfo = {
        exc_type: 'ChordError',
        exc_message: [`Dependency ${failed.taskId} raised ${why}`],
        exc_module: 'celery.exceptions',
      };
      await this.attempt('chord-body', body, () => this.fail(body, info, null, { callErrbacks: true, ...lineage }));
    } else {
      const args = [outcomes.map((outcome) => outcome.result)];
      // As Celery's backend does when the body cannot be applied: the body is recorded FAILURE with a ChordError.
      await this.attempt(
        'chord-body',
        body,
        () => this.send(body, { ...lineage, args }),
        (info) => this.fail(body, info, null, { callErrbacks: true, ...lineage }),
      );
    }
    await host.backend.chordDone(part.groupId);
  }

  /**
   * Records every task of a workflow part that will never run as FAILURE with `info`, runs its
   * errbacks when asked, and passes the failure on to the group/chord its final task belongs to.
   */
  async fail(
    dict: SignatureDict,
    info: ExceptionInfo,
    traceback: string | null,
    options: Lineage & { callErrbacks: boolean },
  ): Promise<void> {
    const { host } = this;
    if (host.hasBackend) {
      const ids = taskIdsOf(dict);
      const context = options.replyTo ? { replyTo: options.replyTo } : {};
      await Promise.all(
        ids.map((id) => host.backend.storeResult(neverRunMeta(id, info, traceback, options.parentId), { ...context, correlationId: id })),
      );
    }
    for (const final of finalTaskViews(dict)) {
      const { taskId, groupId, groupIndex, chord } = final;
      if (options.callErrbacks && taskId) {
        for (const branch of final.errorLinks) {
          const errback = readBranch(branch, (view) => view.dict);
          await this.attempt(
            'errback',
            errback,
            () => this.send(errback, { ...options, args: errbackArgs(host, errback, taskId, info) }),
            (failure) => this.fail(errback, failure, null, { ...options, callErrbacks: false }),
          );
        }
      }
      if (chord && groupId && taskId) {
        const chordBody = readBranch(chord, (view) => view.dict);
        await this.attempt('chord-report', chordBody, () =>
          this.reportChordPart({ taskId, groupId, groupIndex }, chordBody, 'FAILURE', info, options),
        );
      }
    }
  }
}

const PART_NAMES: Record<UnsendableError['part'], string> = {
  callback: 'callback',
  errback: 'errback',
  chain: 'chain step',
  'chord-body': 'chord body',
  'chord-report': 'chord report for body',
  workflow: 'workflow',
};

function dispatchContext(context: Lineage & { args: unknown[]; chain?: SignatureDict[] | null }): DispatchContext {
  return {
    ...rootContext(context.args),
    parentId: context.parentId,
    rootId: context.rootId,
    chain: context.chain ?? null,
    replyTo: context.replyTo,
  };
}

/** What Celery records on a chord body that could not be applied: ChordError('Callback error: ...'). */
function chordCallbackError(error: unknown): ExceptionInfo {
  return {
    exc_type: 'ChordError',
    exc_message: [`Callback error: ${errorText(error, MAX_PART_ERROR_CHARS)}`],
    exc_module: 'celery.exceptions',
  };
}

function nameOf(dict: SignatureDict): string {
  return typeof dict.task === 'string' ? truncateText(dict.task, MAX_PART_NAME_CHARS) : '?';
}

/** `name[id]` of a signature dict for error texts, bounded. */
function describe(dict: SignatureDict): string {
  const id = dict.options?.task_id;
  return `${nameOf(dict)}${typeof id === 'string' ? `[${truncateText(id, MAX_PART_ID_CHARS)}]` : ''}`;
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

/** A FAILURE for a task that will never run because an earlier part of its workflow failed. */
function neverRunMeta(taskId: string, info: ExceptionInfo, traceback: string | null, parentId: string | null): TaskMeta {
  const meta: TaskMeta = { status: 'FAILURE', result: info, traceback, children: [], date_done: celeryUtcNow(), task_id: taskId };
  if (parentId) meta.parent_id = parentId;
  return meta;
}

/**
 * The tasks that finish a workflow part: a signature itself, a chain's last, a group's every
 * one, a chord's body's (signature-tree's finalsOf). A received embed was checked to nest at
 * most MAX_SIGNATURE_DEPTH deep (embed-check); a signature built in code was not, so the walk is
 * bounded too. A part nested deeper, a chord with no body, or anything else that does not read
 * as a signature cannot be sent: UnsendableError.
 */
export function finalTasks(dict: SignatureDict): SignatureDict[] {
  return finalTaskViews(dict).map((view) => view.dict);
}

function finalTaskViews(dict: SignatureDict): TaskView[] {
  try {
    return tasksAlong(dict, finalsOf);
  } catch (error) {
    if (!(error instanceof MalformedSignatureError)) throw error;
    if (error.field === 'kwargs.body')
      throw new UnsendableError('chord-body', nameOf(dict), `chord ${describe(dict)} has no body`, { cause: error });
    const part = error.field.endsWith('.kwargs.body') ? 'chord-body' : 'workflow';
    throw new UnsendableError(part, nameOf(dict), `workflow part ${describe(dict)} cannot be sent: ${error.message}`, { cause: error });
  }
}
