import { hostname as osHostname, loadavg } from 'node:os';
import type { Worker } from '../worker/worker.js';
import type { TaskRequest } from '../worker/request.js';
import { queueDeclaration } from '../app/queues.js';
import { queueArguments } from '../broker/queue-arguments.js';
import { booleanArgument, queueArgument, rateArgument, signalArgument, taskIdsArgument, taskNameArgument } from './handler-arguments.js';

/**
 * What a worker answers to each remote-control method, in the shapes Celery 5.2's
 * celery/worker/control.py returns, so Celery's own `inspect`/`control` print them.
 * Arguments are read through handler-arguments.ts: a handler uses none it has not checked,
 * and a bad one throws an ArgumentError naming it (answered as `{error}`).
 */
export interface HandlerState {
  worker: Worker;
  startedAt: number;
  clock: () => number;
  /** Finished tasks by name (Celery's stats `total`). */
  totals: Map<string, number>;
  revoke(taskIds: string[], terminate: boolean): Promise<void>;
  revokedIds(): string[];
  shutdown(): void;
}

type Handler = (state: HandlerState, args: Record<string, unknown>) => unknown;

const ok = (text: string): { ok: string } => ({ ok: text });

export const HANDLERS: Record<string, Handler> = {
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
};

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

function stats(state: HandlerState): Record<string, unknown> {
  const { worker } = state;
  const usage = process.resourceUsage();
  const memory = process.memoryUsage();
  return {
    broker: { transport: worker.app.transport.url.split(':')[0], hostname: osHostname(), url: worker.app.transport.url },
    clock: String(state.clock()),
    pid: process.pid,
    uptime: Math.floor((Date.now() - state.startedAt) / 1000),
    pool: {
      'max-concurrency': worker.concurrency,
      implementation: `celeriac:${worker.pool.kind}`,
      processes: [process.pid],
      'running-threads': worker.active,
    },
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
