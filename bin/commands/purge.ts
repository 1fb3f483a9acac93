import type { CommandModule } from 'yargs';

export interface PurgeArgs {
  queues?: string;
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
      .option('queues', { alias: 'Q', type: 'string', describe: "Comma-separated queues (default: the app's default queue)" })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app' })
      .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" }),
  handler: async (args) => (await import('../handlers/purge.js')).runPurge(args),
};
