import type { CommandModule } from 'yargs';
import { LOG_LEVELS, type LogLevel } from '../../lib/log/logger.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadAppForCommand } from '../load-app.js';
import { ControlServer } from '../../lib/control/control-server.js';
// Events, metrics (prom-client) and beat (cron-parser) are imported only when their option is
// on: a plain worker does not carry them in memory.
import type { WorkerEventSender } from '../../lib/events/worker-events.js';
import type { WorkerMetrics } from '../../lib/metrics/worker-metrics.js';
import type { Beat } from '../../lib/beat/beat.js';

/** What each pool thread imports: the -A module, as a file URL when it is a path. */
function moduleUrl(specifier: string): string {
  return specifier.startsWith('.') || specifier.startsWith('/') ? pathToFileURL(resolve(specifier)).href : specifier;
}

interface WorkerArgs {
  app?: string;
  concurrency?: number;
  loglevel: LogLevel;
  queues?: string;
  hostname?: string;
  'prefetch-multiplier'?: number;
  'shutdown-timeout': string;
  pool: 'async' | 'threads';
  control: boolean;
  events: boolean;
  'metrics-port'?: number;
  beat: boolean;
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'Run a worker that consumes and executes tasks',
  builder: (y) =>
    y
      .option('app', {
        alias: 'A',
        type: 'string',
        describe: 'Module exporting the app (default export or "app"); default $CELERIAC_APP',
      })
      .option('concurrency', { alias: 'c', type: 'number', describe: 'Tasks run at once (default: number of CPUs)' })
      .option('loglevel', { alias: 'l', choices: LOG_LEVELS, default: 'info' as LogLevel, describe: 'Log level' })
      .option('queues', { alias: 'Q', type: 'string', describe: 'Comma-separated queues to consume (default: the app\'s default queue)' })
      .option('hostname', { alias: 'n', type: 'string', describe: 'Node name; %h host, %n short host, %d domain (default celeriac@%h)' })
      .option('prefetch-multiplier', { type: 'number', describe: 'Prefetch = concurrency × this (default 4)' })
      .option('pool', { alias: 'P', choices: ['async', 'threads'] as const, default: 'async' as const, describe: 'Where tasks run: the event loop (async) or worker_threads (threads: hard time limits terminate the thread)' })
      .option('events', { alias: 'E', type: 'boolean', default: false, describe: 'Send Celery monitoring events (celeryev) for celeriac events, Flower, celery events' })
      .option('beat', { alias: 'B', type: 'boolean', default: false, describe: 'Also run the periodic-task scheduler (development; see celeriac beat)' })
      .option('metrics-port', { type: 'number', describe: 'Serve Prometheus metrics at http://0.0.0.0:<port>/metrics' })
      .option('control', { type: 'boolean', default: true, describe: 'Answer remote control (celeriac/celery inspect and control); --no-control to disable' })
      .option('shutdown-timeout', { type: 'string', default: '30s', describe: 'Grace period for running tasks on SIGTERM/SIGINT' })
      .example('$0 worker -A ./dist/tasks.js --concurrency=4 --loglevel=info', 'run a worker')
      .example('$0 worker -A ./dist/tasks.js -c 2 -n second@%h -Q celery,images', 'a second worker on two queues'),
  handler: async (args) => {
    const { app, specifier } = await loadAppForCommand(args.app, args.loglevel);
    const worker = app.worker({
      ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
      ...(args['prefetch-multiplier'] !== undefined ? { prefetchMultiplier: args['prefetch-multiplier'] } : {}),
      ...(args.queues ? { queues: args.queues.split(',').map((q) => q.trim()).filter(Boolean) } : {}),
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
      control = new ControlServer(worker, { onShutdown: () => shutdown('SIGTERM') });
      await control.start();
    }
    if (args['metrics-port'] !== undefined) {
      const { WorkerMetrics } = await import('../../lib/metrics/worker-metrics.js');
      metrics = new WorkerMetrics(worker);
      const port = await metrics.listen(args['metrics-port']);
      worker.logger.info(`metrics at http://0.0.0.0:${port}/metrics`);
    }
    if (args.events) {
      const { WorkerEventSender } = await import('../../lib/events/worker-events.js');
      events = new WorkerEventSender(worker);
      await events.start();
    }
    await worker.start();
    if (args.beat) {
      const { Beat } = await import('../../lib/beat/beat.js');
      beat = new Beat(app);
      await beat.start();
    }
  },
};
