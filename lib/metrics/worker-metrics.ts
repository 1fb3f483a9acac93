import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Worker } from '../worker/worker.js';
import type { RequestOutcome, TaskRequest } from '../worker/request.js';
import type { Delivery } from '../broker/transport.js';

/**
 * Prometheus metrics of one worker (`celeriac worker --metrics-port 9808`), on its own registry,
 * served at `/metrics`. Fed only by the Worker's EventEmitter events, plus gauges read on scrape
 * (queue depth asks the broker once per consumed queue per scrape).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  #server: Server | undefined;
  readonly #tasks: Counter<'name' | 'state'>;
  readonly #runtime: Histogram<'name'>;
  readonly #deadLettered: Counter<'queue' | 'reason'>;
  readonly #onReceived = (request: TaskRequest): void => this.#tasks.inc({ name: request.name, state: 'RECEIVED' });
  readonly #onStarted = (request: TaskRequest): void => this.#tasks.inc({ name: request.name, state: 'STARTED' });
  readonly #onDone = (request: TaskRequest, outcome: RequestOutcome): void => {
    this.#tasks.inc({ name: request.name, state: outcome.state });
    if ('runtimeMs' in outcome) this.#runtime.observe({ name: request.name }, outcome.runtimeMs / 1000);
  };
  readonly #onDeadLettered = (delivery: Delivery, reason: string): void => this.#deadLettered.inc({ queue: delivery.queue, reason });
  readonly #reconnects: Counter<'role'>;
  readonly #onReconnect = (role: 'publish' | 'consume'): void => this.#reconnects.inc({ role });

  constructor(readonly worker: Worker) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ worker: worker.hostname });
    collectDefaultMetrics({ register: this.registry, prefix: 'celeriac_process_' });
    this.#tasks = new Counter({
      name: 'celeriac_tasks_total',
      help: 'Tasks by name and state (RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED, REQUEUED)',
      labelNames: ['name', 'state'],
      registers,
    });
    this.#runtime = new Histogram({
      name: 'celeriac_task_runtime_seconds',
      help: 'Run time of task code by task name',
      labelNames: ['name'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.#reconnects = new Counter({
      name: 'celeriac_broker_reconnects_total',
      help: 'Lost broker connections replaced, by role (publish, consume)',
      labelNames: ['role'],
      registers,
    });
    this.#deadLettered = new Counter({
      name: 'celeriac_dead_lettered_total',
      help: 'Messages moved to a dead-letter queue, by queue and reason',
      labelNames: ['queue', 'reason'],
      registers,
    });
    new Gauge({
      name: 'celeriac_tasks_active',
      help: 'Tasks whose code is running',
      registers,
      collect() {
        this.set(worker.active);
      },
    });
    new Gauge({
      name: 'celeriac_prefetch_in_use',
      help: 'Deliveries taken from the broker and not yet settled',
      registers,
      collect() {
        this.set(worker.unsettled);
      },
    });
    new Gauge({
      name: 'celeriac_prefetch_limit',
      help: 'Prefetch per consumed queue (concurrency × multiplier)',
      registers,
      collect() {
        this.set(worker.prefetch);
      },
    });
    new Gauge({
      name: 'celeriac_concurrency',
      help: 'Most tasks running at once',
      registers,
      collect() {
        this.set(worker.concurrency);
      },
    });
    new Gauge({
      name: 'celeriac_queue_depth',
      help: 'Ready messages in each consumed queue (asked from the broker on scrape)',
      labelNames: ['queue'],
      registers,
      async collect() {
        await Promise.all(
          worker.consuming.map(async (queue) => {
            try {
              this.set({ queue }, await worker.app.transport.messageCount(queue));
            } catch {
              // broker unreachable: leave the last value
            }
          }),
        );
      },
    });
    worker.on('task-received', this.#onReceived);
    worker.app.events.on('broker-reconnected', this.#onReconnect);
    worker.on('task-started', this.#onStarted);
    worker.on('task-done', this.#onDone);
    worker.on('dead-lettered', this.#onDeadLettered);
  }

  /** Serves /metrics on `port` (0 = any free port); resolves with the port. */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics' && req.url !== '/') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(`${error.message}\n`),
      );
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as { port: number }).port));
    });
  }

  async close(): Promise<void> {
    this.worker.off('task-received', this.#onReceived);
    this.worker.off('task-started', this.#onStarted);
    this.worker.off('task-done', this.#onDone);
    this.worker.off('dead-lettered', this.#onDeadLettered);
    this.worker.app.events.off('broker-reconnected', this.#onReconnect);
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
