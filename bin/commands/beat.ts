import type { CommandModule } from 'yargs';
import type { LogLevel } from '../../lib/index.js';
import { DAEMON_OPTIONS, type DaemonArgs } from './daemon-options.js';
import { logLevelOption } from './log-level-option.js';

export interface BeatArgs extends DaemonArgs {
  app?: string;
  loglevel: LogLevel;
  'lock-ttl': string;
  grace: string;
  redis?: string;
  schedule?: string;
  'max-interval'?: number;
  pidfile?: string;
  logfile?: string;
}

/** `celeriac beat`: its options here; what it does is ../handlers/beat.ts, imported when it runs. */
export const beatCommand: CommandModule<object, BeatArgs> = {
  command: 'beat',
  describe: "Send the app's beatSchedule tasks when due (run several: one leads)",
  builder: (y) =>
    y
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (default export or "app"); default $CELERIAC_APP' })
      .option('loglevel', logLevelOption('info'))
      .option('lock-ttl', { type: 'string', default: '10s', describe: 'Leader lock lifetime: fail-over takes at most this' })
      .option('grace', { type: 'string', default: '5m', describe: 'Runs missed by more than this while nobody led are skipped' })
      .option('redis', { type: 'string', describe: "Redis URL for the lock and schedule state (default: the app's redis:// backend)" })
      .option('schedule', {
        alias: ['s', 'schedule-filename'],
        type: 'string',
        describe:
          "Accepted for Celery compatibility and not used: beat keeps its schedule state in Redis (the app's backend or --redis), " +
          'shared by every beat for fail-over, instead of a file',
      })
      .option('max-interval', {
        type: 'number',
        describe: 'Most seconds between two looks at the schedule; beat looks every --lock-ttl/3, at most every second, anyway',
      })
      .option('logfile', {
        alias: 'f',
        type: 'string',
        describe: 'Append log lines to this file instead of stderr; reopened on SIGHUP (logrotate). %n, %h, %d as for --pidfile',
      })
      .option('pidfile', {
        type: 'string',
        describe:
          'Write the pid to this file, removed on exit; refuse to start if it names a live process (a stale one is replaced). ' +
          '%n is "beat", %h the host, %d its domain',
      })
      .options(DAEMON_OPTIONS)
      .example('$0 beat -A ./dist/tasks.js', 'run the scheduler (start two for fail-over)')
      .example('$0 beat -A ./dist/tasks.js -D', 'in the background: beat.pid and beat.log here')
      .example('$0 beat -A ./dist/tasks.js --pidfile /run/celeriac/beat.pid -f /var/log/celeriac/beat.log', 'as a service'),
  handler: async (args) => (await import('../handlers/beat.js')).runBeat(args),
};
