import type { CommandModule } from 'yargs';
import type { LogLevel } from '../../lib/index.js';
import { DAEMON_OPTIONS, type DaemonArgs } from './daemon-options.js';
import { logLevelOption } from './log-level-option.js';

export interface WorkerArgs extends DaemonArgs {
  app?: string;
  concurrency?: number;
  loglevel: LogLevel;
  queues?: string;
  hostname?: string;
  'prefetch-multiplier'?: number;
  'shutdown-timeout': string;
  pool: 'async' | 'threads';
  control: boolean;
  'control-commands'?: string;
  events: boolean;
  'metrics-port'?: number;
  beat: boolean;
  pidfile?: string;
  logfile?: string;
  purge: boolean;
  'exclude-queues'?: string;
  include?: string;
  'time-limit'?: number;
  'soft-time-limit'?: number;
  'max-tasks-per-child'?: number;
  'max-memory-per-child'?: number;
  autoscale?: string;
  O: 'default' | 'fair';
  'without-heartbeat': boolean;
  'heartbeat-interval'?: number;
  'without-gossip': boolean;
  'without-mingle': boolean;
}

/** `celeriac worker`: its options here; what it does is ../handlers/worker.ts, imported when it runs. */
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
      .option('concurrency', {
        alias: 'c',
        type: 'number',
        describe: "Tasks run at once (default: the app's concurrency, else 16 with -P async, the number of CPUs with -P threads)",
      })
      .option('loglevel', logLevelOption('info'))
      .option('queues', { alias: 'Q', type: 'string', describe: "Comma-separated queues to consume (default: the app's default queue)" })
      .option('exclude-queues', {
        alias: 'X',
        type: 'string',
        describe: 'Comma-separated queues not to consume, of those the worker would otherwise consume (-Q or the default queue)',
      })
      .option('purge', {
        alias: 'discard',
        type: 'boolean',
        default: false,
        describe: "Discard every waiting message of the worker's queues before consuming (they never run)",
      })
      .option('include', {
        alias: 'I',
        type: 'string',
        describe: 'Comma-separated task modules (paths or package names) imported after -A, so their tasks register on the app',
      })
      .option('logfile', {
        alias: 'f',
        type: 'string',
        describe:
          'Append log lines to this file instead of stderr; reopened on SIGHUP (logrotate). %n, %h, %p, %d, %i, %I as for --pidfile',
      })
      .option('pidfile', {
        type: 'string',
        describe:
          'Write the pid to this file, removed on exit; refuse to start if it names a live process (a stale one is replaced). ' +
          '%p node name, %n its name part, %h its host, %d domain, %i process index (0), %I (empty)',
      })
      .options(DAEMON_OPTIONS)
      .option('hostname', { alias: 'n', type: 'string', describe: 'Node name; %h host, %n short host, %d domain (default celeriac@%h)' })
      .option('prefetch-multiplier', {
        type: 'number',
        describe: "Prefetch = concurrency × this (default: the app's, else concurrency × 4, and with -P async at least 64)",
      })
      .option('pool', {
        alias: 'P',
        choices: ['async', 'threads'] as const,
        default: 'async' as const,
        describe: 'Where tasks run: the event loop (async) or worker_threads (threads: hard time limits terminate the thread)',
      })
      .option('events', {
        alias: ['E', 'task-events'],
        type: 'boolean',
        default: false,
        describe:
          'Send task events (celeryev) for celeriac events, Flower, celery events; remote enable_events turns them on later. ' +
          'worker-* events (online, heartbeat, offline) are sent without -E too, unless --without-heartbeat',
      })
      .option('beat', {
        alias: 'B',
        type: 'boolean',
        default: false,
        describe: 'Also run the periodic-task scheduler (development; see celeriac beat)',
      })
      .option('metrics-port', { type: 'number', describe: 'Serve Prometheus metrics at http://0.0.0.0:<port>/metrics' })
      .option('control', {
        type: 'boolean',
        default: true,
        describe: 'Answer remote control (celeriac/celery inspect and control); --no-control to disable',
      })
      .option('control-commands', {
        type: 'string',
        describe:
          'Remote-control commands obeyed: all, safe (inspect commands and revoke without terminate) ' +
          "or a comma-separated list of command names (default: the app's controlCommands, else all)",
      })
      .option('shutdown-timeout', { type: 'string', default: '30s', describe: 'Grace period for running tasks on SIGTERM/SIGINT' })
      .option('time-limit', {
        type: 'number',
        describe: "Hard time limit in seconds for tasks without their own (message's or task's): TimeLimitExceeded; 0: none",
      })
      .option('soft-time-limit', {
        type: 'number',
        describe: "Soft time limit in seconds for tasks without their own: SoftTimeLimitExceeded on the task's signal; 0: none",
      })
      .option('max-tasks-per-child', {
        type: 'number',
        describe:
          '-P threads: replace a thread after this many tasks. -P async (no child process): the worker stops after this many ' +
          'and exits with status 75, for its supervisor to start a fresh one',
      })
      .option('max-memory-per-child', {
        type: 'number',
        describe:
          "In KiB. -P threads: replace a thread whose heap is past this after a task. -P async: the worker stops once the process's " +
          'resident memory is past this after a task, and exits with status 75. The task that crossed it completes first',
      })
      .option('autoscale', {
        type: 'string',
        describe:
          'MAX,MIN: concurrency follows the load between MIN and MAX (grows when messages wait, shrinks after ' +
          '$AUTOSCALE_KEEPALIVE seconds, default 30); starts at MIN, prefetch MAX × multiplier. One number: MAX,0',
      })
      .option('O', {
        choices: ['default', 'fair'] as const,
        default: 'default' as const,
        describe:
          "Celery's optimization profile. fair: take from the broker only what can start (prefetch = concurrency, unless " +
          '--prefetch-multiplier is given); slots are always filled fairly, whichever frees first',
      })
      .option('without-heartbeat', {
        type: 'boolean',
        default: false,
        describe: 'Send no worker-online/-heartbeat/-offline events (monitors such as Flower then do not see the worker)',
      })
      .option('heartbeat-interval', { type: 'number', describe: 'Seconds between worker-heartbeat events (default 2)' })
      .option('without-gossip', {
        type: 'boolean',
        default: false,
        describe: "Accepted for Celery compatibility: a celeriac worker takes part in no gossip (elections, other workers' events)",
      })
      .option('without-mingle', {
        type: 'boolean',
        default: false,
        describe:
          'Accepted for Celery compatibility: a celeriac worker does not mingle at start-up; it reads revocations from the result backend',
      })
      .epilog(
        'Signals: SIGTERM/SIGINT warm shutdown (again: exit at once). SIGHUP: with -f, reopen the log file; without, ' +
          "Celery's restart: warm shutdown, then exit status 75 for the supervisor to start the worker again. " +
          "Celery's flags and what each does here: docs/cli.md",
      )
      .example('$0 worker -A ./dist/tasks.js --concurrency=4 --loglevel=info', 'run a worker')
      .example('$0 worker -A ./dist/tasks.js -c 2 -n second@%h -Q celery,images', 'a second worker on two queues')
      .example('$0 worker -A ./dist/tasks.js --pidfile=/run/celeriac/%n.pid -f /var/log/celeriac/%n%I.log', 'as a service'),
  handler: async (args) => (await import('../handlers/worker.js')).runWorker(args),
};
