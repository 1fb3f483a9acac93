import { hostname as osHostname, loadavg } from 'node:os';
import type { Worker } from '../worker/worker.js';
import type { TaskRequest } from '../worker/request.js';
import { parseRate } from '../worker/rate-limiter.js';
import { queueDeclaration } from '../app/queues.js';

/**
 * What a worker answers to each remote-control method, in the shapes Celery 5.2's
 * celery/worker/control.py returns, so Celery's own `inspect`/`control` print them.
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
    worker.requests().scheduled.map((r) => ({ eta: r.message.headers.eta, priority: r.delivery.properties.priority ?? 0, request: requestInfo(worker, r, false) })),
  registered: ({ worker }) => [...worker.app.tasks.keys()].sort(),
  revoked: (state) => state.revokedIds(),
  stats: (state) => stats(state),
  active_queues: ({ worker }) => worker.consuming.map((name) => queueInfo(worker, name)),
  revoke: async (state, args) => {
    const raw = args.task_id;
    const ids = (Array.isArray(raw) ? raw : [raw]).filter((id): id is string => typeof id === 'string' && id !== '');
    if (ids.length === 0) return { error: 'task_id required' };
    await state.revoke(ids, Boolean(args.terminate));
    return ok(`tasks ${ids.join(', ')} flagged as revoked`);
  },
  rate_limit: ({ worker }, args) => {
    const name = String(args.task_name ?? '');
    const task = worker.app.tasks.get(name);
    if (!task) return { error: `unknown task ${name}` };
    const rate = args.rate_limit;
    if (rate === null || rate === undefined || rate === 0 || rate === '0' || rate === '') {
      delete (task.options as { rateLimit?: unknown }).rateLimit;
      return ok('rate limit disabled successfully');
    }
    try {
      parseRate(rate as string | number);
    } catch (error) {
      return { error: `invalid rate limit string: ${(error as Error).message}` };
    }
    (task.options as { rateLimit?: string | number }).rateLimit = rate as string | number;
    return ok('new rate limit set successfully');
  },
  add_consumer: async ({ worker }, args) => {
    const queue = String(args.queue ?? '');
    if (!queue) return { error: 'queue required' };
    if (worker.consuming.includes(queue)) return ok(`already consuming from ${queue}`);
    await worker.addConsumer(queue);
    return ok(`add consumer ${queue}`);
  },
  cancel_consumer: async ({ worker }, args) => {
    const queue = String(args.queue ?? '');
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
    delivery_info: { exchange: delivery.exchange, routing_key: delivery.routingKey, priority: delivery.properties.priority ?? null, redelivered: delivery.redelivered },
    worker_pid: process.pid,
    retries: headers.retries,
  };
}

function queueInfo(worker: Worker, name: string): Record<string, unknown> {
  const declaration = queueDeclaration(name, worker.app.config);
  return {
    name,
    exchange: { name, type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false },
    routing_key: name,
    queue_arguments: declaration.arguments ?? null,
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
    max_priority: (declaration.arguments?.['x-max-priority'] as number | undefined) ?? null,
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
