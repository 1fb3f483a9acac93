/**
 * The worker-child skeleton of the bench (celeriac-worker.ts, scale-worker.ts): a celeriac
 * worker on the run's queue in a bench child process. A variant makes the app, says the worker's
 * options and what it counts; the skeleton does the rest, the same for every worker child:
 *
 * - every task done (its outcome recorded, its message acked) must have succeeded, or the run
 *   fails; the variant hears each success (`taskDone`);
 * - `startOnGo` (a preloaded queue): the broker connection opened before 'go', the worker started
 *   (declares and subscribes) after it; otherwise the worker consumes from the start (the
 *   producer's warm-up needs it) and then reports ready;
 * - `atGo` runs right after 'go' (before the worker starts, when it starts on go); `started`
 *   once the worker consumes after 'go';
 * - progress every `progressEveryMs`; after 'stop', `stopping`, then the worker stopped and the
 *   app closed.
 */
import type { App, Worker, WorkerOptions } from '../../lib/index.js';
import type { Child } from './child-runtime.js';

/** The worker of a bench child: the options it is given, on `queue`, named after the process. */
export function benchWorker(app: App, queue: string, options: Omit<WorkerOptions, 'queues' | 'hostname'>): Worker<App> {
  return app.worker({ ...options, queues: [queue], hostname: `bench@${process.pid}` });
}

export interface WorkerChildHooks {
  /** Each task the worker finished with SUCCESS. */
  taskDone(): void;
  /** Right after 'go'. */
  atGo(): void;
  /** Once the worker consumes after 'go'. */
  started?(): void;
  progress(): string;
  progressEveryMs: number;
  /** After 'stop', before the worker stops. */
  stopping?(): void;
}

export async function runWorkerChild(
  child: Child<unknown>,
  app: App,
  worker: Worker<App>,
  queue: string,
  startOnGo: boolean,
  hooks: WorkerChildHooks,
): Promise<void> {
  worker.on('task-done', (request, outcome) => {
    // Not a throw: the worker calls listeners inside its own promise chain.
    if (outcome.state !== 'SUCCESS') return child.fail(new Error(`task ${request.id} ended ${outcome.state}`));
    hooks.taskDone();
  });

  if (startOnGo) {
    // Opens the broker connection before 'go'; start() then declares and subscribes.
    await app.transport.messageCount(queue);
    await child.ready();
    hooks.atGo();
    await worker.start();
  } else {
    await worker.start();
    await child.ready();
    hooks.atGo();
  }
  hooks.started?.();
  const progress = setInterval(() => child.progress(hooks.progress()), hooks.progressEveryMs);

  await child.stopped();
  clearInterval(progress);
  hooks.stopping?.();
  await worker.stop();
  await app.close();
  child.exit();
}
