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
  type Worker,
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
import { celeryWorkerOptions, heartbeatInterval } from '../worker-flags.js';

/**
 * The exit status of a worker that ended so as to be started again: after SIGHUP (Celery's
 * worker re-executes itself in place, which a Node process cannot) and, with the async pool,
 * after --max-tasks-per-child / --max-memory-per-child. EX_TEMPFAIL: its supervisor (systemd
 * Restart=, compose restart:, celeriac multi) starts a fresh one.
 */
const EXIT_RESTART = 75;

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

/**
 * Runs a worker for the app of -A until SIGTERM/SIGINT (a second SIGINT exits at once), or until
 * it is to be restarted (SIGHUP without -f, a per-child limit with the async pool: EXIT_RESTART).
 */
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
  const heartbeat = heartbeatInterval(args);
  const controlPolicy =
    args['control-commands'] === undefined
      ? app.config.controlCommands
      : parseControlPolicyFlag(args['control-commands'], (reason) => new ConfigError('--control-commands', reason));
  const worker = app.worker({
    ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
    ...celeryWorkerOptions(args),
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
  } else {
    // Celery's worker restarts on SIGHUP (re-executing itself); Node's default would end the
    // process at once, running tasks and all.
    process.on('SIGHUP', () => shutdown('SIGHUP', EXIT_RESTART));
  }
  noteCeleryFlags(worker, args);
  worker.on('recycle', () => shutdown('recycle', EXIT_RESTART));
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
  /** Warm shutdown, then exit with `status` (a second signal exits at once). */
  const shutdown = (signal: NodeJS.Signals | 'recycle', status = 0): void => {
    signals += 1;
    // As Celery's worker: SIGTERM again (`celeriac multi stop`, then `stopwait`) leaves the warm
    // shutdown going; Ctrl-C again (or SIGINT after SIGTERM) ends it at once.
    if (signals > 1 && signal === 'SIGTERM') {
      worker.logger.info('SIGTERM again: the warm shutdown goes on');
      return;
    }
    if (signals > 1) {
      if (signal === 'recycle') return;
      worker.logger.warn(`${signal} again: exiting now; unfinished tasks will be redelivered by the broker`);
      process.exit(1);
    }
    if (signal === 'SIGHUP') {
      worker.logger.warn(
        `SIGHUP received: restarting: warm shutdown, then exit status ${status} for the supervisor to start the worker again ` +
          '(a Node process cannot re-execute itself in place as Celery does; -f makes SIGHUP reopen the log file instead)',
      );
    } else if (signal === 'recycle') {
      worker.logger.warn(`per-child limit reached: warm shutdown, then exit status ${status} for the supervisor to start a fresh worker`);
    } else worker.logger.info(`${signal} received: warm shutdown (press Ctrl-C again to exit at once)`);
    void worker
      .stop()
      .then(() => beat?.stop())
      .then(() => events?.stop())
      .then(() => metrics?.close())
      .then(() => control?.stop())
      .then(() => app.close())
      .then(
        () => process.exit(status),
        (error: Error) => {
          worker.logger.error(`shutdown failed: ${error.message}`);
          process.exit(1);
        },
      );
  };
  // Not `shutdown` itself: a signal listener gets the signal's number as its second argument.
  process.on('SIGTERM', (signal) => shutdown(signal));
  process.on('SIGINT', (signal) => shutdown(signal));
  // As Celery's worker: worker-* events unless --without-heartbeat, task-* ones with -E or once
  // remote control's enable_events asks (Flower sends it).
  events = new WorkerEventSender(worker, {
    taskEvents: args.events,
    heartbeatInterval: heartbeat,
  });
  if (args.control) {
    // Before consuming tasks: stored revocations are loaded first, so none of them runs.
    control = new ControlServer(worker, { onShutdown: () => shutdown('SIGTERM'), policy: controlPolicy, events });
    await control.start();
    worker.logger.info(`remote control: obeying ${describeControlPolicy(controlPolicy)}`);
  }
  if (args['metrics-port'] !== undefined) {
    const { WorkerMetrics } = await import('../../lib/metrics/worker-metrics.js');
    metrics = new WorkerMetrics(worker);
    const port = await metrics.listen(args['metrics-port']);
    worker.logger.info(`metrics at http://0.0.0.0:${port}/metrics`);
  }
  await events.start();
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

/** Logs what the Celery flags that change nothing here mean for this worker, and settings that override others. */
function noteCeleryFlags(worker: Worker, args: ArgumentsCamelCase<WorkerArgs>): void {
  if (args['without-gossip']) worker.logger.info('--without-gossip: a celeriac worker takes part in no gossip (nothing to turn off)');
  if (args['without-mingle']) {
    worker.logger.info('--without-mingle: a celeriac worker does not mingle; it reads stored revocations from the result backend at start');
  }
  if (args.autoscale !== undefined && args.concurrency !== undefined) {
    worker.logger.warn(`--autoscale ${args.autoscale}: -c ${args.concurrency} is not used (the worker starts at the autoscale min)`);
  }
  if (args.O === 'fair' && args['prefetch-multiplier'] !== undefined && args['prefetch-multiplier'] !== 1) {
    worker.logger.info(`-O fair with --prefetch-multiplier ${args['prefetch-multiplier']}: the multiplier given is used`);
  }
  if (worker.pool.kind === 'async' && !worker.childLimits.unlimited) {
    worker.logger.info(
      'max-tasks/memory-per-child with the async pool: tasks run on the worker itself, so past a limit the worker stops ' +
        `and exits with status ${EXIT_RESTART} for its supervisor to start a fresh one (-P threads replaces threads instead)`,
    );
  }
}
