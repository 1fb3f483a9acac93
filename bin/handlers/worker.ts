import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, ControlServer, describeControlPolicy, parseControlPolicyFlag, WorkerEventSender } from '../../lib/index.js';
// Metrics (prom-client) and beat (cron-parser) are entry points of their own, imported only when
// their option is on: a plain worker does not carry them in memory.
import type { WorkerMetrics } from '../../lib/metrics/worker-metrics.js';
import type { Beat } from '../../lib/beat/beat.js';
import type { WorkerArgs } from '../commands/worker.js';
import { loadAppForCommand } from '../load-app.js';

/** What each pool thread imports: the -A module, as a file URL when it is a path. */
function moduleUrl(specifier: string): string {
  return specifier.startsWith('.') || specifier.startsWith('/') ? pathToFileURL(resolve(specifier)).href : specifier;
}

/** Runs a worker for the app of -A until SIGTERM/SIGINT (a second signal exits at once). */
export async function runWorker(args: ArgumentsCamelCase<WorkerArgs>): Promise<void> {
  const { app, specifier } = await loadAppForCommand(args.app, args.loglevel);
  const controlPolicy =
    args['control-commands'] === undefined
      ? app.config.controlCommands
      : parseControlPolicyFlag(args['control-commands'], (reason) => new ConfigError('--control-commands', reason));
  const worker = app.worker({
    ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
    ...(args['prefetch-multiplier'] !== undefined ? { prefetchMultiplier: args['prefetch-multiplier'] } : {}),
    ...(args.queues
      ? {
          queues: args.queues
            .split(',')
            .map((q) => q.trim())
            .filter(Boolean),
        }
      : {}),
    ...(args.hostname ? { hostname: args.hostname } : {}),
    shutdownTimeout: args['shutdown-timeout'],
    pool: args.pool,
    ...(args.pool === 'threads' ? { appModule: moduleUrl(specifier) } : {}),
  });
  let control: ControlServer | undefined;
  let events: WorkerEventSender | undefined;
  let metrics: WorkerMetrics | undefined;
  let beat: Beat | undefined;
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      worker.logger.warn(`${signal} again: exiting now; unfinished tasks will be redelivered by the broker`);
      process.exit(1);
    }
    worker.logger.info(`${signal} received: warm shutdown (press Ctrl-C again to exit at once)`);
    void worker
      .stop()
      .then(() => beat?.stop())
      .then(() => events?.stop())
      .then(() => metrics?.close())
      .then(() => control?.stop())
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (error: Error) => {
          worker.logger.error(`shutdown failed: ${error.message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (args.control) {
    // Before consuming tasks: stored revocations are loaded first, so none of them runs.
    if (args.events) events = new WorkerEventSender(worker);
    control = new ControlServer(worker, { onShutdown: () => shutdown('SIGTERM'), policy: controlPolicy, events: events ?? null });
    await control.start();
    worker.logger.info(`remote control: obeying ${describeControlPolicy(controlPolicy)}`);
  }
  if (args['metrics-port'] !== undefined) {
    const { WorkerMetrics } = await import('../../lib/metrics/worker-metrics.js');
    metrics = new WorkerMetrics(worker);
    const port = await metrics.listen(args['metrics-port']);
    worker.logger.info(`metrics at http://0.0.0.0:${port}/metrics`);
  }
  if (args.events) {
    events ??= new WorkerEventSender(worker);
    await events.start();
  }
  await worker.start();
  if (args.beat) {
    const { Beat } = await import('../../lib/beat/beat.js');
    beat = new Beat(app);
    await beat.start();
  }
}
