import type { ArgumentsCamelCase } from 'yargs';
import { Beat } from '../../lib/beat/beat.js';
import type { BeatArgs } from '../commands/beat.js';
import { loadAppForCommand } from '../load-app.js';

/** Runs the scheduler for the app of -A until SIGTERM/SIGINT. */
export async function runBeat(args: ArgumentsCamelCase<BeatArgs>): Promise<void> {
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
}
