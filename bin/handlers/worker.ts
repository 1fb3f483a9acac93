import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ArgumentsCamelCase } from 'yargs';
import {
  ConfigError,
  ControlServer,
  describeControlPolicy,
  expandHostname,
  logToFile,
  parseControlPolicyFlag,
  TransportError,
  WorkerEventSender,
  type App,
} from '../../lib/index.js';
// Metrics (prom-client) and beat (cron-parser) are entry points of their own, imported only when
// their option is on: a plain worker does not carry them in memory.
import type { WorkerMetrics } from '../../lib/metrics/worker-metrics.js';
import type { Beat } from '../../lib/beat/beat.js';
import { DETACHED_FILES } from '../commands/daemon-options.js';
import type { WorkerArgs } from '../commands/worker.js';
import { applyDaemonOptions } from '../daemon.js';
import { detachCommand, reportDetachedStart } from '../detach.js';
import { loadAppForCommand } from '../load-app.js';
import { commaList } from '../comma-list.js';
import { importIncludedModules } from '../include-modules.js';
import { nodeFormat } from '../node-format.js';
import { createPidFile, PidFileLocked } from '../pidfile.js';

/** What each pool thread imports: the -A module, as a file URL when it is a path. */
function moduleUrl(specifier: string): string {
  return specifier.startsWith('.') || specifier.startsWith('/') ? pathToFileURL(resolve(specifier)).href : specifier;
}

/** The queues to consume: -Q's (else the app's default queue) without those of -X. */
function consumedQueues(app: App, args: ArgumentsCamelCase<WorkerArgs>): string[] | undefined {
  const requested = commaList(args.queues);
  const excluded = new Set(commaList(args['exclude-queues']));
  if (excluded.size === 0) return requested.length > 0 ? requested : undefined;
  const queues = (requested.length > 0 ? requested : [app.config.defaultQueue]).filter((queue) => !excluded.has(queue));
  if (queues.length === 0) throw new ConfigError('--exclude-queues', 'excludes every queue the worker would consume');
  return queues;
}

/**
 * Discards the waiting messages of `queues` (--purge), as Celery's worker does before consuming.
 * A queue that does not exist yet holds nothing. Returns how many messages were discarded.
 */
async function purgeQueues(app: App, queues: readonly string[]): Promise<number> {
  let total = 0;
  for (const queue of queues) {
    try {
      total += await app.transport.purge(queue);
    } catch (error) {
      if (!(error instanceof TransportError && error.reason === 'not-found')) throw error;
    }
  }
  return total;
}

/** Runs a worker for the app of -A until SIGTERM/SIGINT (a second SIGINT exits at once). */
export async function runWorker(args: ArgumentsCamelCase<WorkerArgs>): Promise<void> {
  applyDaemonOptions(args);
  if (args.detach) {
    const nodeName = expandHostname(args.hostname ?? 'celeriac@%h');
    process.exitCode = await detachCommand(args, `worker ${nodeName}`, nodeName, DETACHED_FILES);
    return;
  }
  const { app, specifier } = await loadAppForCommand(args.app, args.loglevel);
  const include = commaList(args.include);
  if (include.length > 0 && args.pool === 'threads') {
    // A pool thread imports only the -A module: tasks of included modules would be missing there.
    throw new ConfigError('--include', 'is not supported with -P threads: import the modules from the -A module instead');
  }
  await importIncludedModules(include);
  const queues = consumedQueues(app, args);
  const controlPolicy =
    args['control-commands'] === undefined
      ? app.config.controlCommands
      : parseControlPolicyFlag(args['control-commands'], (reason) => new ConfigError('--control-commands', reason));
  const worker = app.worker({
    ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
    ...(args['prefetch-multiplier'] !== undefined ? { prefetchMultiplier: args['prefetch-multiplier'] } : {}),
    ...(queues ? { queues } : {}),
    ...(args.hostname ? { hostname: args.hostname } : {}),
    shutdownTimeout: args['shutdown-timeout'],
    pool: args.pool,
    ...(args.pool === 'threads' ? { appModule: moduleUrl(specifier) } : {}),
  });
  if (args.logfile !== undefined) {
    const file = logToFile(app.logger, nodeFormat(args.logfile, worker.hostname));
    // logrotate renames the file, then sends SIGHUP: new lines go to a new file at the path.
    process.on('SIGHUP', () => {
      file.reopen();
      worker.logger.info('SIGHUP received: log file reopened');
    });
  }
  if (args.pidfile !== undefined) {
    const path = nodeFormat(args.pidfile, worker.hostname);
    try {
      // Removed however the process exits once it is written (warm shutdown, second signal, failure).
      process.on('exit', createPidFile(path));
      reportDetachedStart();
    } catch (error) {
      if (!(error instanceof PidFileLocked)) throw error;
      process.stderr.write(`${error.message}\n`);
      // Celery's exit status for it: EX_CANTCREAT.
      process.exit(73);
    }
  }
  let control: ControlServer | undefined;
  let events: WorkerEventSender | undefined;
  let metrics: WorkerMetrics | undefined;
  let beat: Beat | undefined;
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals): void => {
    signals += 1;
    // As Celery's worker: SIGTERM again (`celeriac multi stop`, then `stopwait`) leaves the warm
    // shutdown going; Ctrl-C again (or SIGINT after SIGTERM) ends it at once.
    if (signals > 1 && signal === 'SIGTERM') {
      worker.logger.info('SIGTERM again: the warm shutdown goes on');
      return;
    }
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
  if (args.purge) {
    const discarded = await purgeQueues(app, worker.queues);
    if (discarded > 0) worker.logger.warn(`purge: Erased ${discarded} ${discarded === 1 ? 'message' : 'messages'} from the queue.`);
  }
  await worker.start();
  if (args.beat) {
    const { Beat } = await import('../../lib/beat/beat.js');
    beat = new Beat(app);
    await beat.start();
  }
}
