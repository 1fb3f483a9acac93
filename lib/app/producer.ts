import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Transport } from '../broker/transport.js';
import { ConfigError } from '../errors/errors.js';
import { encodeTaskMessage, type SignatureDict, type TaskMessage } from '../protocol/task-message.js';
import { toMilliseconds } from '../util/duration.js';
import type { AppConfig } from './config.js';
import type { CallOptions } from './call-options.js';
import type { TaskOptions } from './task.js';
import { queueDeclaration } from './queues.js';

/**
 * What a send carries beyond CallOptions: lineage and workflow, set by canvas and the worker.
 * `callbacks`/`errbacks` given here are used as they are; otherwise they come from the call
 * options `link`/`linkError`.
 */
export interface MessageLineage {
  parentId?: string | null;
  rootId?: string | null;
  group?: string | null;
  groupIndex?: number | null;
  retries?: number;
  callbacks?: SignatureDict[] | null;
  errbacks?: SignatureDict[] | null;
  /** Remaining chain steps, reversed. */
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
}

const ORIGIN = `${process.pid}@${hostname()}`;
const MAX_REPR = 1024;

/**
 * Turns a call into a protocol v2 message and publishes it. Resolves with the task id once
 * the broker confirmed the message. Queues on the default exchange are declared before the
 * first publish to them (once per queue per process; re-declared by the transport after
 * reconnects), so a task sent before any worker started waits in its durable queue.
 */
export class Producer {
  readonly #declared = new Map<string, Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly transport: () => Transport,
    /** reply_to of every message: the app's stable per-process id (rpc results are routed by it). */
    private readonly replyTo: string,
  ) {}

  async send(
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    taskOptions: Readonly<TaskOptions> = {},
    lineage: MessageLineage = {},
  ): Promise<string> {
    const message = this.build(name, args, kwargs, options, taskOptions, lineage);
    const serializer = options.serializer ?? taskOptions.serializer ?? this.config.serializer;
    const outgoing = encodeTaskMessage(message, serializer);
    const exchange = options.exchange ?? taskOptions.exchange ?? '';
    const queue = options.queue ?? taskOptions.queue ?? this.config.defaultQueue;
    const routingKey = options.routingKey ?? (options.queue ? queue : taskOptions.routingKey) ?? queue;
    if (exchange === '') await this.declareOnce(routingKey);
    await this.transport().publish(outgoing, { exchange, routingKey, mandatory: true });
    return message.headers.id;
  }

  /** Builds the message without sending it (also used by specs to compare with Celery's). */
  build(
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    taskOptions: Readonly<TaskOptions> = {},
    lineage: MessageLineage = {},
  ): TaskMessage {
    if (!Array.isArray(args)) throw new ConfigError('args', `task ${name}: args must be an array`);
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw new ConfigError('kwargs', `task ${name}: kwargs must be an object`);
    }
    const id = options.taskId ?? randomUUID();
    const now = Date.now();
    const eta = etaOf(options, now);
    const expiresAt = expiresOf(options.expires ?? taskOptions.expires, now);
    const priority = options.priority ?? taskOptions.priority;
    if (priority !== undefined && (!Number.isInteger(priority) || priority < 0 || priority > 255)) {
      throw new ConfigError('priority', `expected an integer 0..255, got ${priority}`);
    }
    const message: TaskMessage = {
      headers: {
        lang: 'js',
        task: name,
        id,
        shadow: null,
        eta: eta === null ? null : new Date(eta).toISOString(),
        expires: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        group: lineage.group ?? null,
        group_index: lineage.groupIndex ?? null,
        retries: lineage.retries ?? 0,
        timelimit: [null, null],
        root_id: lineage.rootId ?? id,
        parent_id: lineage.parentId ?? null,
        argsrepr: repr(args),
        kwargsrepr: repr(kwargs),
        origin: ORIGIN,
        ignore_result: options.ignoreResult ?? taskOptions.ignoreResult ?? false,
      },
      args,
      kwargs,
      embed: {
        callbacks: lineage.callbacks ?? dictsOf(options.link),
        errbacks: lineage.errbacks ?? dictsOf(options.linkError),
        chain: lineage.chain?.length ? lineage.chain : null,
        chord: lineage.chord ?? null,
      },
      replyTo: this.replyTo,
    };
    if (priority !== undefined) message.priority = priority;
    if (expiresAt !== null) message.expiration = Math.max(0, expiresAt - now);
    return message;
  }

  private declareOnce(queue: string): Promise<void> {
    let declared = this.#declared.get(queue);
    if (!declared) {
      declared = this.transport().declareQueue(queueDeclaration(queue));
      declared.catch(() => this.#declared.delete(queue));
      this.#declared.set(queue, declared);
    }
    return declared;
  }
}

function etaOf(options: CallOptions, now: number): number | null {
  if (options.eta !== undefined) {
    if (!(options.eta instanceof Date) || Number.isNaN(options.eta.getTime())) throw new ConfigError('eta', 'expected a valid Date');
    return options.eta.getTime();
  }
  if (options.countdown !== undefined) return now + toMilliseconds(options.countdown, 'countdown');
  return null;
}

function expiresOf(expires: CallOptions['expires'], now: number): number | null {
  if (expires === undefined) return null;
  if (expires instanceof Date) {
    if (Number.isNaN(expires.getTime())) throw new ConfigError('expires', 'expected a valid Date');
    return expires.getTime();
  }
  return now + toMilliseconds(expires, 'expires');
}

function dictsOf(signatures: CallOptions['link']): SignatureDict[] | null {
  if (signatures === undefined) return null;
  const list = Array.isArray(signatures) ? signatures : [signatures];
  return list.length ? list.map((signature) => signature.toDict()) : null;
}

/** A short readable form of the arguments for logs and monitoring (Celery's argsrepr). */
function repr(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_REPR ? `${text.slice(0, MAX_REPR - 3)}...` : text;
}
