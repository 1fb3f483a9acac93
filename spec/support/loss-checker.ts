import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createApp, type App, type AppOptions } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from './apps.js';
import { readJsonLines } from './json-lines.js';
import { startCli, type RunningProcess } from './processes.js';
import type { ExecutionRecord } from './reliability-app.js';

/** The compiled tasks module the worker processes load with -A. */
export const RELIABILITY_APP = new URL('./reliability-app.js', import.meta.url).pathname;

/**
 * The loss checker of spec/reliability. A workload of uniquely numbered `rel.work` tasks is sent
 * through real RabbitMQ and Redis to `celeriac worker` processes while a spec injects faults;
 * the checker keeps its own books, outside the system under test:
 *
 * - sends: every attempted id, split into confirmed (the call resolved: the broker took it) and
 *   failed (the call rejected: the caller saw an error);
 * - executions: the ledger file each run appends to (synchronously, before the result is stored
 *   and the message acked), so duplicates are counted even when a worker dies right after;
 * - completions: an id is complete when its SUCCESS is in Redis, or when a worker logged
 *   "succeeded" for it (a worker logs that only after storing the result and acking). Two
 *   sources because each can miss one: Redis loses every key in a restart (CI runs it without
 *   persistence), and a SIGKILLed worker can die between its ack and its log line.
 *
 * Verdict: lost = confirmed but never complete (must be 0); unexpected = executed or complete
 * but never attempted (must be 0); duplicated = runs beyond the first (reported).
 */
export interface Report {
  attempted: number;
  confirmed: number;
  failed: number;
  completed: number;
  lost: string[];
  unexpected: string[];
  /** Runs beyond one per id. */
  duplicated: number;
  executions: number;
  /** Runs whose delivery had the redelivered flag. */
  redeliveredRuns: number;
  /** Failed sends that ran anyway (the broker took them, but the confirm never reached the caller). */
  failedButRan: number;
}

export interface WorkloadOptions {
  /** Broker URL for the producer (e.g. through a TcpProxy). Default: RabbitMQ direct. */
  producerBroker?: string;
  /** Broker URL for worker processes. Default: RabbitMQ direct. */
  workerBroker?: string;
  /** AMQP heartbeat of producer and workers, seconds. Default 30. */
  heartbeatSeconds?: number;
  producerOptions?: AppOptions;
  /** The compiled app module worker processes load with -A. Default RELIABILITY_APP. */
  appModule?: string;
  /** The task queue's type, for producer and workers alike (RELIABILITY_QUEUE_TYPE). Default 'classic'. */
  queueType?: 'classic' | 'quorum';
  /** Result backend URL of producer and workers. Default: Redis direct (REDIS_URL). */
  backend?: string;
  /** Where the checker reads stored results (the same Redis as `backend`, over a plain port). Default REDIS_URL. */
  checkerRedis?: string;
  /** The checker's own client of that backend's Redis (closed by `close()`). Default: one to `checkerRedis`. */
  checker?: Redis;
}

export class Workload {
  readonly queue = uniqueName('reliability');
  readonly ledger = join(tmpdir(), `celeriac-ledger-${randomUUID()}.jsonl`);
  readonly producer: App;
  readonly redis: Redis;
  readonly workers: RunningProcess[] = [];
  /** id → n for every attempted send. */
  readonly attempted = new Map<string, number>();
  readonly confirmed = new Set<string>();
  /** id → Date.now() when its send resolved. */
  readonly confirmedAt = new Map<string, number>();
  /** id → the error the caller saw. */
  readonly failed = new Map<string, string>();
  #next = 0;
  readonly #workerEnv: NodeJS.ProcessEnv;

  constructor(readonly options: WorkloadOptions = {}) {
    const heartbeat = options.heartbeatSeconds ?? 30;
    this.producer = createApp({
      name: 'reliability-producer',
      broker: options.producerBroker ?? AMQP_URL,
      backend: options.backend ?? REDIS_URL,
      defaultQueue: this.queue,
      heartbeat: heartbeat * 1000,
      brokerConnectionMaxRetries: null,
      brokerConnectionMaxDelay: '2s',
      logLevel: 'silent',
      ...(options.queueType ? { queues: { [this.queue]: { type: options.queueType } } } : {}),
      ...options.producerOptions,
    });
    this.redis =
      options.checker ??
      new Redis(options.checkerRedis ?? REDIS_URL, {
        maxRetriesPerRequest: 1,
        retryStrategy: () => 200,
        enableOfflineQueue: false,
        lazyConnect: false,
      });
    this.redis.on('error', () => undefined);
    this.#workerEnv = {
      CELERIAC_BROKER_URL: options.workerBroker ?? AMQP_URL,
      CELERIAC_RESULT_BACKEND: options.backend ?? REDIS_URL,
      RELIABILITY_QUEUE: this.queue,
      RELIABILITY_LEDGER: this.ledger,
      RELIABILITY_HEARTBEAT: String(heartbeat),
      ...(options.queueType ? { RELIABILITY_QUEUE_TYPE: options.queueType } : {}),
    };
  }

  /** Starts `celeriac worker -A <reliability app>` on the workload's queue; resolves once it is consuming. */
  async startWorker(name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningProcess> {
    const worker = startCli(
      ['worker', '-A', this.options.appModule ?? RELIABILITY_APP, '-l', 'info', '-Q', this.queue, '-n', `${name}@%h`, ...args],
      { ...this.#workerEnv, ...env },
    );
    this.workers.push(worker);
    await worker.waitFor(/ready: queues/, 30_000);
    return worker;
  }

  /**
   * Records in `into` the instant each "Task rel.work[…] succeeded" line of `worker`'s output
   * reaches this process (the worker logs it once the result is stored and the task acked): when
   * the workers stored results again after a fault.
   */
  static recordSuccessTimes(worker: RunningProcess, into: number[]): void {
    const stamp = (chunk: Buffer): void => {
      const now = Date.now();
      for (const _ of chunk.toString('utf8').matchAll(/Task rel\.work\[[0-9a-f-]{36}\] succeeded in/g)) into.push(now);
    };
    worker.child.stdout!.on('data', stamp);
    worker.child.stderr!.on('data', stamp);
  }

  /**
   * Sends `count` tasks (`rel.work`, or `task` taking the same arguments) numbered from the next
   * free number, at most `window` unconfirmed at a time; each sleeps `ms` in the worker. Resolves when
   * every send settled (confirmed or failed).
   */
  async send(count: number, ms: number, window = 25, task = 'rel.work'): Promise<void> {
    const numbers = Array.from({ length: count }, () => this.#next++);
    let index = 0;
    const lane = async (): Promise<void> => {
      while (index < numbers.length) {
        const n = numbers[index++];
        const id = randomUUID();
        this.attempted.set(id, n);
        try {
          await this.producer.sendTask(task, [n, ms], {}, { taskId: id });
          this.confirmed.add(id);
          this.confirmedAt.set(id, Date.now());
        } catch (error) {
          this.failed.set(id, (error as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
  }

  executions(): ExecutionRecord[] {
    return readJsonLines<ExecutionRecord>(this.ledger);
  }

  /** Ids some worker logged as succeeded (after storing the result and acking). */
  reportedDone(): Set<string> {
    const done = new Set<string>();
    for (const worker of this.workers) {
      for (const match of worker.output().matchAll(/Task rel\.(?:work|effect)\[([0-9a-f-]{36})\] succeeded in/g)) done.add(match[1]);
    }
    return done;
  }

  /** Ids with SUCCESS in Redis now (nothing while Redis is unreachable). */
  async storedSuccess(ids: Iterable<string>): Promise<Set<string>> {
    const list = [...ids];
    const stored = new Set<string>();
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      let values: (string | null)[];
      try {
        values = await this.redis.mget(chunk.map((id) => `celery-task-meta-${id}`));
      } catch {
        continue;
      }
      values.forEach((value, j) => {
        if (value && (JSON.parse(value) as { status: string }).status === 'SUCCESS') stored.add(chunk[j]);
      });
    }
    return stored;
  }

  async completed(): Promise<Set<string>> {
    const done = this.reportedDone();
    for (const id of await this.storedSuccess([...this.attempted.keys()].filter((id) => !done.has(id)))) done.add(id);
    return done;
  }

  /** Waits until every confirmed send is complete, or `timeoutMs`; resolves with the report either way. */
  async settle(timeoutMs = 60_000): Promise<Report> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = await this.completed();
      const missing = [...this.confirmed].filter((id) => !done.has(id));
      if (missing.length === 0 || Date.now() > deadline) return this.report(done);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  report(done: Set<string>): Report {
    const runs = this.executions();
    const perId = new Map<string, number>();
    for (const run of runs) perId.set(run.id, (perId.get(run.id) ?? 0) + 1);
    const unexpected = new Set<string>();
    for (const id of [...perId.keys(), ...done]) if (!this.attempted.has(id)) unexpected.add(id);
    let duplicated = 0;
    for (const count of perId.values()) duplicated += count - 1;
    return {
      attempted: this.attempted.size,
      confirmed: this.confirmed.size,
      failed: this.failed.size,
      completed: [...this.confirmed].filter((id) => done.has(id)).length,
      lost: [...this.confirmed].filter((id) => !done.has(id)),
      unexpected: [...unexpected],
      duplicated,
      executions: runs.length,
      redeliveredRuns: runs.filter((r) => r.redelivered).length,
      failedButRan: [...this.failed.keys()].filter((id) => perId.has(id) || done.has(id)).length,
    };
  }

  /**
   * Milliseconds from `since` to the first run that started after it (null if none did);
   * `redeliveredOnly` counts only runs of messages that had been delivered before — the work
   * that was in flight when the fault hit.
   */
  resumeMs(since: number, redeliveredOnly = false): number | null {
    const after = this.executions()
      .filter((r) => r.started >= since && (!redeliveredOnly || r.redelivered))
      .map((r) => r.started);
    return after.length ? Math.min(...after) - since : null;
  }

  /** Log lines that must never appear: double acks (406), handler crashes, unhandled errors. */
  forbiddenLogLines(): string[] {
    const forbidden = /PRECONDITION.FAILED|unknown delivery tag|crashed the request handler|Unhandled|uncaught|triggerUncaughtException/i;
    return this.workers.flatMap((w) =>
      w
        .output()
        .split('\n')
        .filter((line) => forbidden.test(line)),
    );
  }

  /** Worker log lines that mention any of `ids` (to explain a lost or duplicated task). */
  linesAbout(ids: readonly string[]): string[] {
    if (ids.length === 0) return [];
    return this.workers.flatMap((w, i) =>
      w
        .output()
        .split('\n')
        .filter((line) => ids.some((id) => line.includes(id)))
        .map((line) => `worker ${i} (pid ${w.child.pid}): ${line}`),
    );
  }

  /** One line for t.diagnostic. */
  static summary(report: Report): string {
    const { lost, unexpected, ...counts } = report;
    return JSON.stringify({ ...counts, lost: lost.length, unexpected: unexpected.length });
  }

  /** Kills every worker process still running, deletes the queues, closes connections. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
        worker.child.kill('SIGCONT');
        worker.child.kill('SIGKILL');
        await worker.exited;
      }),
    );
    for (const queue of [this.queue, `${this.queue}.dead-letter`]) {
      await Promise.race([this.producer.transport.deleteQueue(queue), new Promise((resolve) => setTimeout(resolve, 5000))]).catch(
        () => undefined,
      );
    }
    await Promise.race([this.producer.close(), new Promise((resolve) => setTimeout(resolve, 5000))]).catch(() => undefined);
    this.redis.disconnect();
    rmSync(this.ledger, { force: true });
  }
}
