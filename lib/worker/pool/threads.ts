import { Worker as Thread } from 'node:worker_threads';
import type { Logger } from 'winston';
import { ThreadPoolError } from '../../errors/errors.js';
import { ChildLimits } from '../child-limits.js';
import { withTimeLimits } from '../time-limits.js';
import { TaskTerminated, UnpassableResult, type PoolJob, type TaskPool } from './pool.js';
import { deserializeError, serializeError, type ContextData, type FromThread, type ToThread } from './thread-protocol.js';

const ENTRY = new URL('./thread-entry.js', import.meta.url);

interface PooledThread {
  thread: Thread;
  /** Resolves once the thread imported the app module; rejects if that failed. */
  ready: Promise<void>;
  /** Settles the job running on this thread, if any. */
  job: { id: number; resolve: (value: unknown) => void; reject: (error: unknown) => void } | null;
  /** Its max-tasks-per-child / max-memory-per-child count. */
  readonly limits: ChildLimits;
  /** Its heap in bytes after its last job, as it reported. */
  heapUsed: number;
}

/** Celery's --max-tasks-per-child and --max-memory-per-child (KiB), per thread; null: no limit. */
export interface ThreadLimits {
  maxTasksPerThread: number | null;
  maxHeapKiB: number | null;
}

/**
 * Runs each task in a worker thread (one job per thread at a time, at most `size` threads).
 * Invariants: a thread is idle exactly when it has no job; a hard time limit terminates the
 * job's thread — stopping even a CPU-bound loop — and the thread is dropped (a fresh one is
 * started for the next job); a thread that dies fails its job with the exit reason; a thread
 * past `limits` after a job (its task count, or its heap) is terminated once that job settled,
 * and a fresh one is started for the next job (Celery's child replacement).
 * Arguments, results and errors cross by structured clone (see thread-protocol.ts).
 */
export class ThreadPool implements TaskPool {
  readonly kind = 'threads' as const;
  readonly #idle: PooledThread[] = [];
  readonly #all = new Set<PooledThread>();
  #nextJob = 1;

  constructor(
    private readonly appModule: string,
    private size: number,
    private readonly logger: Logger,
    private readonly limits: ThreadLimits = { maxTasksPerThread: null, maxHeapKiB: null },
  ) {}

  async run(job: PoolJob): Promise<unknown> {
    const pooled = this.#idle.pop() ?? this.spawn();
    await pooled.ready;
    if (job.abort.signal.reason instanceof TaskTerminated) {
      // Revoked with terminate while the thread was starting: never run it.
      this.#idle.push(pooled);
      throw job.abort.signal.reason;
    }
    const id = this.#nextJob++;
    const { context } = job;
    const data: ContextData = {
      id: context.id,
      name: context.name,
      retries: context.retries,
      hostname: context.hostname,
      rootId: context.rootId,
      parentId: context.parentId,
      groupId: context.groupId,
      queue: context.queue,
      redelivered: context.redelivered,
    };
    const result = new Promise<unknown>((resolve, reject) => {
      pooled.job = { id, resolve, reject };
    });
    const onAbort = (): void => {
      if (job.abort.signal.reason instanceof TaskTerminated) void this.kill(pooled, 'terminated by revoke');
      else this.send(pooled, { type: 'abort', job: id, reason: serializeError(job.abort.signal.reason) });
    };
    job.abort.signal.addEventListener('abort', onAbort, { once: true });
    this.send(pooled, { type: 'run', job: id, context: data, args: job.args, kwargs: job.kwargs });
    try {
      return await withTimeLimits(result, job.limits, job, () => void this.kill(pooled, 'hard time limit'));
    } finally {
      job.abort.signal.removeEventListener('abort', onAbort);
      if (this.#all.has(pooled)) {
        pooled.job = null;
        const due = pooled.limits.afterTask(() => pooled.heapUsed);
        if (due === null) this.#idle.push(pooled);
        else {
          this.logger.info(`threads pool: replacing thread ${pooled.thread.threadId}: it ${due}`);
          void this.kill(pooled, due);
        }
      }
    }
  }

  /** A new most-threads-at-once; idle threads beyond it are stopped, busy ones end with their job. */
  resize(size: number): void {
    this.size = size;
    while (this.#all.size > size && this.#idle.length > 0) void this.kill(this.#idle.pop()!, 'pool shrunk');
  }

  async close(): Promise<void> {
    await Promise.all([...this.#all].map((pooled) => this.kill(pooled, 'pool closed')));
  }

  private spawn(): PooledThread {
    if (this.#all.size >= this.size) throw new ThreadPoolError('too-many-jobs', `threads pool: more than ${this.size} jobs at once`);
    const thread = new Thread(ENTRY, { workerData: { appModule: this.appModule } });
    const pooled: PooledThread = {
      thread,
      ready: Promise.resolve(),
      job: null,
      limits: new ChildLimits(this.limits.maxTasksPerThread, this.limits.maxHeapKiB),
      heapUsed: 0,
    };
    pooled.ready = new Promise<void>((resolve, reject) => {
      thread.on('message', (message: FromThread) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'boot-failed') reject(deserializeError(message.error));
        else if (pooled.job?.id === message.job) {
          pooled.heapUsed = message.heapUsed;
          if (!message.ok) pooled.job.reject(deserializeError(message.error));
          else pooled.job.resolve('unpassable' in message ? new UnpassableResult(message.unpassable) : message.value);
        }
      });
      thread.on('error', (error) => {
        reject(error);
        pooled.job?.reject(error);
      });
      thread.on('exit', (code) => {
        this.forget(pooled);
        const error = new ThreadPoolError('thread-exited', `task thread exited (code ${code})`);
        reject(error);
        pooled.job?.reject(error);
      });
    });
    pooled.ready.catch((error: Error) => this.logger.error(`threads pool: a thread failed to start: ${error.message}`));
    this.#all.add(pooled);
    return pooled;
  }

  private send(pooled: PooledThread, message: ToThread): void {
    pooled.thread.postMessage(message);
  }

  private async kill(pooled: PooledThread, why: string): Promise<void> {
    this.forget(pooled);
    this.logger.debug(`threads pool: terminating a thread (${why})`);
    await pooled.thread.terminate();
  }

  private forget(pooled: PooledThread): void {
    this.#all.delete(pooled);
    const index = this.#idle.indexOf(pooled);
    if (index >= 0) this.#idle.splice(index, 1);
  }
}
