import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { TaskContext } from '../../app/task-context.js';
import { ThreadPoolError } from '../../errors/errors.js';
import { Retry, type RetryOptions } from '../../errors/signals.js';
import { findUnencodable } from '../../protocol/encodable.js';
import { executeTask } from '../executor.js';
import type { WorkerHost } from '../host.js';
import { deserializeError, serializeError, type FromThread, type ToThread } from './thread-protocol.js';

/**
 * A threads-pool thread: imports the app module, then runs one job at a time as told by the
 * pool. Creating the app does no I/O, so the thread opens no broker or backend connection
 * unless task code itself sends tasks.
 */
const port = parentPort!;
const post = (message: FromThread): void => port.postMessage(message);
/** This thread's heap in bytes: a thread has a V8 heap of its own, which process.memoryUsage() reports here. */
const heapUsed = (): number => process.memoryUsage().heapUsed;
const running = new Map<number, AbortController>();

/** What a thread uses of the app its module exports: the task registry and the logger. */
type ThreadApp = Pick<WorkerHost, 'tasks' | 'logger'>;

async function loadApp(specifier: string): Promise<ThreadApp> {
  const target = specifier.startsWith('.') || specifier.startsWith('/') ? pathToFileURL(resolve(specifier)).href : specifier;
  const module = (await import(target)) as Record<string, unknown>;
  const app = [module.default, module.app].find((v) => typeof v === 'object' && v !== null && 'tasks' in v);
  if (!app) throw new ThreadPoolError('no-app', `${specifier} exports no app`);
  return app as ThreadApp;
}

try {
  const app = await loadApp((workerData as { appModule: string }).appModule);
  port.on('message', (message: ToThread) => {
    if (message.type === 'abort') {
      running.get(message.job)?.abort(deserializeError(message.reason));
      return;
    }
    const abort = new AbortController();
    running.set(message.job, abort);
    const task = app.tasks.get(message.context.name);
    const context: TaskContext = {
      ...message.context,
      args: message.args,
      kwargs: message.kwargs,
      signal: abort.signal,
      logger: app.logger.child({ taskId: message.context.id, taskName: message.context.name }),
      retry(options?: RetryOptions): never {
        throw new Retry(options);
      },
    };
    const run = task
      ? executeTask(task, message.args, message.kwargs, context)
      : Promise.reject(new ThreadPoolError('unknown-task', `task ${message.context.name} is not registered in the thread's app`));
    run.then(
      (value) => {
        running.delete(message.job);
        // Checked here, before the structured clone drops what JSON would refuse (a class
        // instance arrives as a plain object). Not a failure here: only where the result is
        // stored does it fail the task (TaskRequest.settle), as in the async pool.
        const problem = findUnencodable(value, 'json', 'result');
        if (problem) {
          post({ type: 'done', job: message.job, heapUsed: heapUsed(), ok: true, unpassable: problem });
          return;
        }
        try {
          post({ type: 'done', job: message.job, heapUsed: heapUsed(), ok: true, value });
        } catch (error) {
          post({
            type: 'done',
            job: message.job,
            heapUsed: heapUsed(),
            ok: true,
            unpassable: `the result cannot be passed out of its thread: ${(error as Error).message}`,
          });
        }
      },
      (error: unknown) => {
        running.delete(message.job);
        post({ type: 'done', job: message.job, heapUsed: heapUsed(), ok: false, error: serializeError(error) });
      },
    );
  });
  post({ type: 'ready' });
} catch (error) {
  post({ type: 'boot-failed', error: serializeError(error) });
}
