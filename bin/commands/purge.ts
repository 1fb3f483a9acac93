import type { CommandModule } from 'yargs';

export interface PurgeArgs {
  queues?: string;
  'exclude-queues'?: string;
  force: boolean;
  app?: string;
  broker?: string;
}

/** `celeriac purge`: its options here; what it does is ../handlers/purge.ts, imported when it runs. */
export const purgeCommand: CommandModule<object, PurgeArgs> = {
  command: 'purge',
  describe: 'Delete all waiting messages from task queues (cannot be undone)',
  builder: (y) =>
    y
      .option('queues', {
        alias: 'Q',
        type: 'string',
        describe: "Comma-separated queues (default: the app's known queues: its default queue and those of its queues setting)",
      })
      .option('exclude-queues', { alias: 'X', type: 'string', describe: 'Comma-separated queues not to purge' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app' })
      .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" })
      .example('$0 purge -A ./dist/tasks.js -f', "empty the app's queues without asking")
      .example('$0 purge -Q images,celery -X celery -f', 'empty "images" only'),
  handler: async (args) => (await import('../handlers/purge.js')).runPurge(args),
};
