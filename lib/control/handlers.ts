import { loadavg } from 'node:os';
import type { Worker } from '../worker/worker.js';
import type { TaskRequest } from '../worker/request.js';
import { queueDeclaration } from '../app/queues.js';
import { queueArguments } from '../broker/queue-arguments.js';
import {
  booleanArgument,
  flagArgument,
  queueArgument,
  rateArgument,
  shortTextArgument,
  signalArgument,
  taskIdsArgument,
  taskNameArgument,
} from './handler-arguments.js';
import { type Handler, type HandlerState, ok } from './handler-state.js';
import { POOL_HANDLERS } from './pool-handlers.js';
import { RUNTIME_HANDLERS } from './runtime-handlers.js';
import { DEBUG_HANDLERS } from './debug-handlers.js';
import { configReport } from './config-report.js';
import { brokerInfo } from './broker-info.js';

export type { HandlerState, ControlledEvents } from './handler-state.js';

/**
 * What a worker answers to each remote-control method, in the shapes Celery 5.2's
 * celery/worker/control.py returns, so Celery's own `inspect`/`control` and Flower read them.
 * Arguments are read through handler-arguments.ts: a handler uses none it has not checked,
 * and a bad one throws an ArgumentError naming it (answered as `{error}`). The pool, runtime
 * and debugging commands live beside this file; CORE_HANDLERS are the rest.
 */
const CORE_HANDLERS: Record<string, Handler> = {
  ping: () => ok('pong'),
  active: ({ worker }) => worker.requests().active.map((r) => requestInfo(worker, r, true)),
  reserved: ({ worker }) => worker.requests().reserved.map((r) => requestInfo(worker, r, false)),
  scheduled: ({ worker }) =>
    worker.requests().scheduled.map((r) => ({
      eta: r.message.headers.eta,
      priority: r.delivery.properties.priority ?? 0,
      request: requestInfo(worker, r, false),
    })),
  registered: ({ worker }) => [...worker.app.tasks.keys()].sort(),
  revoked: (state) => state.revokedIds(),
  stats: (state) => stats(state),
  active_queues: ({ worker }) => worker.consuming.map((name) => queueInfo(worker, name)),
  revoke: async (state, args) => {
    const ids = taskIdsArgument(args, 'task_id');
    const terminate = booleanArgument(args, 'terminate', false);
    signalArgument(args, 'signal');
    await state.revoke(ids, terminate);
    return ok(`tasks ${ids.join(', ')} flagged as revoked`);
  },
  // Celery's terminate: revoke with terminate (the policy tells the two apart).
  terminate: async (state, args) => {
    const ids = taskIdsArgument(args, 'task_id');
    signalArgument(args, 'signal');
    await state.revoke(ids, true);
    return ok(`terminate: tasks ${ids.join(', ')} flagged as revoked`);
  },
  rate_limit: ({ worker }, args) => {
    const name = taskNameArgument(args, 'task_name');
    const rate = rateArgument(args, 'rate_limit');
    const task = worker.app.tasks.get(name);
    if (!task) return { error: `unknown task ${name}` };
    try {
      task.setRateLimit(rate);
    } catch (error) {
      return { error: `invalid rate limit string: ${(error as Error).message}` };
    }
    worker.rateLimitsChanged();
    return ok(rate === null ? 'rate limit disabled successfully' : 'new rate limit set successfully');
  },
  add_consumer: async ({ worker }, args) => {
    const queue = queueArgument(args, 'queue');
    if (worker.consuming.includes(queue)) return ok(`already consuming from ${queue}`);
    await worker.addConsumer(queue);
    return ok(`add consumer ${queue}`);
  },
  cancel_consumer: async ({ worker }, args) => {
    const queue = queueArgument(args, 'queue');
    if (!(await worker.cancelConsumer(queue))) return { error: `not consuming from ${queue}` };
    return ok(`no longer consuming from ${queue}`);
  },
  shutdown: (state) => {
    state.worker.logger.warn('Got shutdown from remote');
    setImmediate(() => state.shutdown());
    return ok('shutting down');
  },
  /** Celery's conf: the resolved config, secrets hidden (with_defaults is accepted; every value is resolved). */
  conf: ({ worker }, args) => {
    flagArgument(args, 'with_defaults', false);
    return configReport(workerConfig(worker));
  },
  /**
   * Celery's query_task: {id: [state, request info]} for the ids held here; state is 'active'
   * (code running) or 'reserved' (waiting to run, or for its ETA: Celery reserves those too).
   */
  query_task: ({ worker }, args) => {
    const ids = new Set(taskIdsArgument(args, 'ids'));
    const { active, reserved, scheduled } = worker.requests();
    const found: Record<string, [string, Record<string, unknown>]> = {};
    const stages = [
      ['active', active],
      ['reserved', reserved],
      ['reserved', scheduled],
    ] as const;
    for (const [stage, requests] of stages) {
      for (const request of requests) {
        if (ids.has(request.id) && !(request.id in found)) found[request.id] = [stage, requestInfo(worker, request, stage === 'active')];
      }
    }
    return found;
  },
  clock: (state) => ({ clock: state.clock() }),
  /**
   * Celery's mingle request (a Python worker sends it as it starts): answered with the clock and
   * no revocations. Celery keys revocations by its own monotonic clock and refuses a timestamp
   * that arrives as a JSON integer, so none are offered; celeriac workers share theirs through
   * the result backend. The sender's revocations are not taken.
   */
  hello: (state, args) => {
    const from = shortTextArgument(args, 'from_node');
    if (from === state.worker.hostname) return null;
    return { revoked: {}, clock: state.clock() };
  },
  report: ({ worker }) =>
    ok(
      `software -> celeriac:0.1.0 node:${process.version} platform:${process.platform}\n` +
        `broker -> ${worker.app.transport.url}\n` +
        `settings -> ${JSON.stringify(configReport(workerConfig(worker)), null, 2)}`,
    ),
};

/** Celery's older names for some inspect commands. */
const ALIASES: Record<string, string> = {
  dump_active: 'active',
  dump_reserved: 'reserved',
  dump_schedule: 'scheduled',
  dump_revoked: 'revoked',
  dump_tasks: 'registered',
  dump_conf: 'conf',
};

/** Every command a worker answers, by method name (aliases included). */
export const HANDLERS: Record<string, Handler> = (() => {
  const all: Record<string, Handler> = { ...CORE_HANDLERS, ...POOL_HANDLERS, ...RUNTIME_HANDLERS, ...DEBUG_HANDLERS };
  for (const [alias, name] of Object.entries(ALIASES)) all[alias] = all[name]!;
  return all;
})();

/** Celery's Request.info(): what inspect active/reserved/scheduled list per task. */
function requestInfo(worker: Worker, request: TaskRequest, started: boolean): Record<string, unknown> {
  const { headers, args, kwargs } = request.message;
  const { delivery } = request;
  return {
    id: request.id,
    name: request.name,
    args,
    kwargs,
    type: request.name,
    hostname: worker.hostname,
    time_start: started ? Date.now() / 1000 : null,
    acknowledged: false,
    delivery_info: {
      exchange: delivery.exchange,
      routing_key: delivery.routingKey,
      priority: delivery.properties.priority ?? null,
      redelivered: delivery.redelivered,
    },
    worker_pid: process.pid,
    retries: headers.retries,
  };
}

function queueInfo(worker: Worker, name: string): Record<string, unknown> {
  const declaration = queueDeclaration(name, worker.app.config);
  return {
    name,
    exchange: {
      name,
      type: 'direct',
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: name,
    queue_arguments: queueArguments(declaration) ?? null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: declaration.durable ?? true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: declaration.maxPriority ?? null,
  };
}

/**
 * The app's config as this worker resolved it: `concurrency` is the worker's now (the app's
 * null stands for the pool's default); `prefetchMultiplier` stays the one given (null: the
 * pool's rule), the prefetch itself being in stats.
 */
function workerConfig(worker: HandlerState['worker']): object {
  return { ...worker.app.config, concurrency: worker.concurrency };
}

function stats(state: HandlerState): Record<string, unknown> {
  const { worker } = state;
  const usage = process.resourceUsage();
  const memory = process.memoryUsage();
  return {
    broker: brokerInfo(worker.app.transport.url, heartbeatOf(worker.app.config)),
    clock: String(state.clock()),
    pid: process.pid,
    uptime: Math.floor((Date.now() - state.startedAt) / 1000),
    pool: {
      'max-concurrency': worker.concurrency,
      implementation: `celeriac:${worker.pool.kind}`,
      processes: [process.pid],
      'running-threads': worker.active,
      'max-tasks-per-child': worker.childLimits.maxTasks ?? 'N/A',
      'max-memory-per-child': worker.childLimits.maxMemoryKiB ?? 'N/A',
      // Celery's [soft, hard] pool timeouts in seconds, 0 for none: the worker's --soft-time-limit / --time-limit.
      timeouts: [(worker.defaultTimeLimits.softMs ?? 0) / 1000, (worker.defaultTimeLimits.hardMs ?? 0) / 1000],
    },
    ...(worker.capacity.autoscaler ? { autoscaler: worker.capacity.autoscaler.info() } : {}),
    prefetch_count: worker.prefetch,
    total: Object.fromEntries(state.totals),
    rusage: {
      utime: usage.userCPUTime / 1e6,
      stime: usage.systemCPUTime / 1e6,
      maxrss: usage.maxRSS,
      minflt: usage.minorPageFault,
      majflt: usage.majorPageFault,
      nvcsw: usage.voluntaryContextSwitches,
      nivcsw: usage.involuntaryContextSwitches,
    },
    loadavg: loadavg(),
    memory: { rss: memory.rss, heapUsed: memory.heapUsed },
    sw_ident: 'celeriac',
  };
}

/** The AMQP heartbeat (seconds) of an app's config; null for a host whose config does not say. */
function heartbeatOf(config: object): number | null {
  return 'heartbeatSeconds' in config && typeof config.heartbeatSeconds === 'number' ? config.heartbeatSeconds : null;
}
