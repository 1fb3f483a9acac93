/**
 * Worker process of the scale scenarios (scale.ts), on the worker-child skeleton
 * (worker-child.ts): the scale app's worker with the run's concurrency and prefetch, reporting
 * every task it finished after 'go' as ticks (scale-ticks.ts). It sends no 'finished': the
 * runner, which sums the ticks of all workers, says 'stop' once the scenario's tasks are all done.
 */
import { startChild } from './child-runtime.js';
import { createScaleApp } from './scale-app.js';
import { TickSender } from './scale-ticks.js';
import { benchWorker, runWorkerChild } from './worker-child.js';

export interface ScaleWorkerConfig {
  amqpUrl: string;
  backendUrl: string;
  queue: string;
  concurrency: number;
  prefetchMultiplier: number;
  /** Ticks every this many tasks (and on a timer). */
  stride: number;
  /**
   * A preloaded queue (the backlog): connect before 'go', start consuming only after it.
   * Otherwise the worker consumes from the start (the producer's warm-up needs it).
   */
  startOnGo: boolean;
}

const child = startChild<ScaleWorkerConfig>();

child.run(async () => {
  const config = child.config;
  const { app } = createScaleApp(config);
  const { concurrency, prefetchMultiplier } = config;
  const worker = benchWorker(app, config.queue, { concurrency, prefetchMultiplier });
  let ticks: TickSender | undefined;
  await runWorkerChild(child, app, worker, config.queue, config.startOnGo, {
    taskDone: () => ticks?.taskDone(),
    atGo: () => (ticks = new TickSender(child, config.stride)),
    progress: () => `done ${ticks?.count ?? 0} since go`,
    progressEveryMs: 5000,
    stopping: () => ticks?.stop(),
  });
});
