/**
 * Worker process of the scale scenarios (scale.ts): the scale app's worker with the run's
 * concurrency and prefetch, reporting every task it finished after 'go' as ticks
 * (scale-ticks.ts). It sends no 'finished': the runner, which sums the ticks of all workers,
 * says 'stop' once the scenario's tasks are all done.
 */
import { startChild } from './child-runtime.js';
import { createScaleApp } from './scale-app.js';
import { TickSender } from './scale-ticks.js';

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
  const worker = app.worker({
    concurrency: config.concurrency,
    prefetchMultiplier: config.prefetchMultiplier,
    queues: [config.queue],
    hostname: `bench@${process.pid}`,
  });
  let ticks: TickSender | undefined;
  worker.on('task-done', (request, outcome) => {
    // Not a throw: the worker calls listeners inside its own promise chain.
    if (outcome.state !== 'SUCCESS') return child.fail(new Error(`task ${request.id} ended ${outcome.state}`));
    ticks?.taskDone();
  });

  if (config.startOnGo) {
    // Opens the broker connection before 'go'; start() then declares and subscribes.
    await app.transport.messageCount(config.queue);
    await child.ready();
    ticks = new TickSender(child, config.stride);
    await worker.start();
  } else {
    await worker.start();
    await child.ready();
    ticks = new TickSender(child, config.stride);
  }
  const progress = setInterval(() => child.progress(`done ${ticks?.count ?? 0} since go`), 5000);

  await child.stopped();
  clearInterval(progress);
  ticks.stop();
  await worker.stop();
  await app.close();
  child.exit();
});
