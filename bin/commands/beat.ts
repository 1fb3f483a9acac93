import type { Argv, CommandModule } from 'yargs';
import { Beat } from '../../lib/beat/beat.js';
import { LOG_LEVELS, type LogLevel } from '../../lib/log/logger.js';
import { loadAppForCommand } from '../load-app.js';

interface BeatArgs {
  app?: string;
  loglevel: LogLevel;
  'lock-ttl': string;
  grace: string;
  redis?: string;
}

export const beatCommand: CommandModule<object, BeatArgs> = {
  command: 'beat',
  describe: 'Send the app\'s beatSchedule tasks when due (run several: one leads)',
  builder: (y) =>
    y
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (default export or "app"); default $CELERIAC_APP' })
      .option('loglevel', { alias: 'l', choices: LOG_LEVELS, default: 'info' as LogLevel, describe: 'Log level' })
      .option('lock-ttl', { type: 'string', default: '10s', describe: 'Leader lock lifetime: fail-over takes at most this' })
      .option('grace', { type: 'string', default: '5m', describe: 'Runs missed by more than this while nobody led are skipped' })
      .option('redis', { type: 'string', describe: 'Redis URL for the lock and schedule state (default: the app\'s redis:// backend)' })
      .example('$0 beat -A ./dist/tasks.js', 'run the scheduler (start two for fail-over)') as Argv<BeatArgs>,
  handler: async (args) => {
    const { app } = await loadAppForCommand(args.app, args.loglevel);
    const beat = new Beat(app, { lockTtl: args['lock-ttl'], grace: args.grace, ...(args.redis ? { redisUrl: args.redis } : {}) });
    const stop = (signal: NodeJS.Signals): void => {
      beat.logger.info(`${signal} received: beat stopping`);
      void beat
        .stop()
        .then(() => app.close())
        .then(
          () => process.exit(0),
          () => process.exit(1),
        );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    await beat.start();
  },
};
