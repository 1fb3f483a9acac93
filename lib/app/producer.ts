import { hostname } from 'node:os';
import type { OutgoingMessage, PublishTarget, Transport } from '../broker/transport.js';
import { ConfigError } from '../errors/errors.js';
import { COMPRESSION_HEADER, compressBody } from '../protocol/compression.js';
import { encodeTaskMessage, type SignatureDict, type TaskMessage } from '../protocol/task-message.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { preview } from '../util/preview.js';
import type { QueueDeclaration } from '../broker/transport.js';
import { DelayedDelivery } from './delayed-delivery.js';
import type { Route } from './routes.js';
import type { AppConfig } from './config.js';
import { checkCompression, checkDeliveryMode, type CallOptions, type MessageLineage } from '../canvas/call-options.js';
import type { TaskOptions } from './task.js';
import { deadLetterDeclaration, deadLettersToQueue, queueDeclaration } from './queues.js';
import { injectTraceContext } from '../tracing/trace-context.js';
import { EventDispatcher } from '../events/dispatcher.js';
import { newId } from '../util/ids.js';

const ORIGIN = `${process.pid}@${hostname()}`;
const MAX_REPR = 1024;

/**
 * The timelimit header of a task with neither limit, shared by every such message (frozen): an
 * unconfirmed send keeps its headers for a possible re-publish, so what they hold is per-send memory.
 */
const NO_TIME_LIMITS: readonly [null, null] = Object.freeze([null, null] as const);

/** The route of a task nobody routed (shared, never changed). */
const NO_ROUTE: Readonly<Route> = Object.freeze({});

/**
 * Turns a call into a protocol v2 message and publishes it. Queues on the default exchange are
 * declared before the first publish to them (once per queue per process; re-declared by the
 * transport after reconnects), so a task sent before any worker started waits in its durable queue.
 *
 * Hot path: once a destination is declared, a send is synchronous up to the transport's
 * publish — no await, no async frame — so what stays in memory per unconfirmed send is the
 * encoded message and the publisher's record of it.
 */
export class Producer {
  /** Per destination: its declaration while in flight, null once done (a failed one is forgotten and tried again). */
  readonly #declared = new Map<Target, Promise<void> | null>();
  /** Destinations seen so far, by their resolved fields: one shared Target per destination. */
  readonly #targets = new Map<string, Target>();
  /** Sends `task-sent` events when the app's `taskSendSentEvent` is on. */
  #events: EventDispatcher | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly transport: () => Transport,
    /** reply_to of every message: the app's stable per-process id (rpc results are routed by it). */
    private readonly replyTo: string,
    private readonly delayed: DelayedDelivery = new DelayedDelivery(
      transport,
      (queue) => queueDeclaration(queue, config),
      config.defaultQueueType,
    ),
  ) {}

  /**
   * Publishes the task under `id` (options.taskId is not read); resolves once the broker
   * confirmed the message. The message is built and encoded before this returns, so the caller
   * may reuse its args; a bad call rejects (this never throws).
   */
  send(
    id: string,
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    taskOptions: Readonly<TaskOptions> = {},
    lineage: MessageLineage = {},
  ): Promise<void> {
    let message: TaskMessage;
    let outgoing: OutgoingMessage;
    let target: Target;
    try {
      const route = this.config.router.route(name) ?? NO_ROUTE;
      message = this.build(name, args, kwargs, options, taskOptions, lineage, route, id);
      outgoing = encodeTaskMessage(message, options.serializer ?? taskOptions.serializer ?? this.config.serializer);
      const compression =
        options.compression === undefined ? this.config.taskCompression : checkCompression('compression', options.compression);
      if (compression !== null) outgoing = compressed(outgoing, compression);
      target = this.targetOf(options, route, taskOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    const declaring = target.declaration ? this.declareOnce(target) : null;
    const delayMs = message.headers.eta === null ? 0 : Date.parse(message.headers.eta) - Date.now();
    const delay = delayMs > 0 && target.queue !== null;
    if (declaring === null && !delay && !this.config.taskSendSentEvent) return this.transport().publish(outgoing, target);
    return this.sendAfter(declaring, message, outgoing, target, delay ? delayMs : 0);
  }

  /** The rest of a send that waits for a declaration, goes through the delay tiers, or is announced. */
  private async sendAfter(
    declaring: Promise<void> | null,
    message: TaskMessage,
    outgoing: OutgoingMessage,
    target: Target,
    delayMs: number,
  ): Promise<void> {
    if (declaring) await declaring;
    if (delayMs > 0) {
      // Wait in the broker's delay tiers, then go straight to the queue (see delayed-delivery.ts).
      await this.delayed.publish(outgoing, target.queue!, delayMs);
    } else {
      await this.transport().publish(outgoing, target);
    }
    if (this.config.taskSendSentEvent) {
      this.#events ??= new EventDispatcher(this.transport);
      const { headers } = message;
      void this.#events.send('task-sent', {
        uuid: headers.id,
        name: headers.task,
        args: headers.argsrepr,
        kwargs: headers.kwargsrepr,
        retries: headers.retries,
        eta: headers.eta,
        expires: headers.expires,
        queue: target.queue,
        exchange: target.exchange,
        routing_key: target.routingKey,
        root_id: headers.root_id,
        parent_id: headers.parent_id,
      });
    }
  }

  /** Builds the message without sending it (also used by specs to compare with Celery's). */
  build(
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: CallOptions,
    taskOptions: Readonly<TaskOptions> = {},
    lineage: MessageLineage = {},
    route: Readonly<Route> = this.config.router.route(name) ?? NO_ROUTE,
    id: string = options.taskId ?? newId(),
  ): TaskMessage {
    if (!Array.isArray(args)) throw new ConfigError('args', `task ${name}: args must be an array`);
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw new ConfigError('kwargs', `task ${name}: kwargs must be an object`);
    }
    const now = Date.now();
    const eta = etaOf(options, now);
    const expiresAt = expiresOf(options.expires ?? taskOptions.expires, now);
    const priority = options.priority ?? route.priority ?? taskOptions.priority;
    const hardLimit = options.timeLimit ?? taskOptions.timeLimit;
    const softLimit = options.softTimeLimit ?? taskOptions.softTimeLimit;
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
        timelimit:
          hardLimit === undefined && softLimit === undefined
            ? NO_TIME_LIMITS
            : [seconds(hardLimit, 'timeLimit'), seconds(softLimit, 'softTimeLimit')],
        root_id: lineage.rootId ?? id,
        parent_id: lineage.parentId ?? null,
        argsrepr: preview(args, MAX_REPR),
        kwargsrepr: preview(kwargs, MAX_REPR),
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
      replyTo: lineage.replyTo ?? this.replyTo,
    };
    if (priority !== undefined) message.priority = priority;
    if (expiresAt !== null) message.expiration = Math.max(0, expiresAt - now);
    const deliveryMode =
      options.deliveryMode === undefined ? this.config.taskDeliveryMode : checkDeliveryMode('deliveryMode', options.deliveryMode);
    if (deliveryMode === 'transient') message.persistent = false;
    injectTraceContext(message.headers);
    return message;
  }

  /** The declaration of a target's queue in progress, or null once it has succeeded (nothing left to wait for). */
  private declareOnce(target: Target): Promise<void> | null {
    let declared = this.#declared.get(target);
    if (declared === undefined) {
      const declaration = target.declaration!;
      const transport = this.transport();
      // Its delivery-limit dead-letter target must exist before it, or RabbitMQ drops those messages.
      const declaring = deadLettersToQueue(declaration)
        ? transport.declareQueue(deadLetterDeclaration(declaration.name, this.config)).then(() => transport.declareQueue(declaration))
        : transport.declareQueue(declaration);
      declaring.then(
        () => this.#declared.set(target, null),
        () => this.#declared.delete(target),
      );
      this.#declared.set(target, (declared = declaring));
    }
    return declared;
  }

  /**
   * Where a call goes (see resolveTarget). The same destination always yields the same Target
   * object, so every unconfirmed publish to it shares one.
   */
  private targetOf(options: CallOptions, route: Readonly<Route>, taskOptions: Readonly<TaskOptions>): Target {
    const fields = targetFields(this.config, options, route, taskOptions);
    const key = `${fields.exchange}\u0000${fields.routingKey}\u0000${fields.queue ?? '\u0001'}\u0000${fields.exchangeType}`;
    let target = this.#targets.get(key);
    if (!target) this.#targets.set(key, (target = resolveTarget(this.config, fields)));
    return target;
  }
}

/** A destination, shared by every send to it (so it is never changed once made). */
interface Target extends PublishTarget {
  readonly exchange: string;
  readonly routingKey: string;
  /** Always true: an unroutable task message is an error, never a silent drop. */
  readonly mandatory: true;
  /** The queue the message lands in, when known (needed for delayed delivery). */
  readonly queue: string | null;
  /** How to declare that queue (and bind it) before the first publish, when celeriac owns it. */
  readonly declaration: QueueDeclaration | null;
}

/** The fields a destination is resolved from (and known by). */
interface TargetFields {
  exchange: string;
  routingKey: string;
  /** The queue named by the call, its route or its task, else the default queue on the default exchange. */
  queue: string | null;
  exchangeType: 'direct' | 'topic' | 'fanout';
}

/**
 * Where a call goes. Precedence, field by field: call options, then the app's `taskRoutes`,
 * then the task's options, then the default queue. A call's `queue` alone resets the routing
 * key to that queue.
 */
function targetFields(config: AppConfig, options: CallOptions, route: Readonly<Route>, taskOptions: Readonly<TaskOptions>): TargetFields {
  const exchange = options.exchange ?? route.exchange ?? taskOptions.exchange ?? '';
  const explicitQueue = options.queue ?? route.queue ?? taskOptions.queue;
  const queue = explicitQueue ?? (exchange === '' ? config.defaultQueue : null);
  const routingKey = options.routingKey ?? (options.queue ? options.queue : (route.routingKey ?? taskOptions.routingKey)) ?? queue ?? '';
  return { exchange, routingKey, queue, exchangeType: route.exchangeType ?? 'direct' };
}

/**
 * The destination of resolved fields. On the default exchange the routing key names the queue.
 * With an exchange but no queue, the message goes to the exchange as it is (the user declared
 * it); with both, the queue is declared and bound to the exchange.
 */
function resolveTarget(config: AppConfig, { exchange, routingKey, queue, exchangeType }: TargetFields): Target {
  if (exchange === '') {
    return { exchange, routingKey, mandatory: true, queue: routingKey, declaration: queueDeclaration(routingKey, config) };
  }
  if (queue === null) return { exchange, routingKey, mandatory: true, queue: null, declaration: null };
  const declaration: QueueDeclaration = { ...queueDeclaration(queue, config), exchange, exchangeType, routingKey };
  // A fanout/topic exchange may deliver to more queues than this one: no single delay target.
  return { exchange, routingKey, mandatory: true, queue: exchangeType === 'direct' ? queue : null, declaration };
}

function seconds(value: Duration | undefined, option: string): number | null {
  return value === undefined ? null : toMilliseconds(value, option) / 1000;
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

/** The message with its body compressed and kombu's `compression` header naming the method. */
function compressed(outgoing: OutgoingMessage, name: string): OutgoingMessage {
  const { body, contentType } = compressBody(outgoing.body, name);
  return { ...outgoing, body, headers: { ...outgoing.headers, [COMPRESSION_HEADER]: contentType } };
}
