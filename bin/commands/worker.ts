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
      .option('concurrency', { alias: 'c', type: 'number', describe: 'Tasks run at once (default: number of CPUs)' })
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
      .option('prefetch-multiplier', { type: 'number', describe: 'Prefetch = concurrency × this (default 4)' })
      .option('pool', {
        alias: 'P',
        choices: ['async', 'threads'] as const,
        default: 'async' as const,
        describe: 'Where tasks run: the event loop (async) or worker_threads (threads: hard time limits terminate the thread)',
      })
      .option('events', {
        alias: 'E',
        type: 'boolean',
        default: false,
        describe: 'Send Celery monitoring events (celeryev) for celeriac events, Flower, celery events',
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
      .example('$0 worker -A ./dist/tasks.js --concurrency=4 --loglevel=info', 'run a worker')
      .example('$0 worker -A ./dist/tasks.js -c 2 -n second@%h -Q celery,images', 'a second worker on two queues')
      .example('$0 worker -A ./dist/tasks.js --pidfile=/run/celeriac/%n.pid -f /var/log/celeriac/%n%I.log', 'as a service'),
  handler: async (args) => (await import('../handlers/worker.js')).runWorker(args),
};
