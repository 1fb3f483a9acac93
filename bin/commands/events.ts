import type { CommandModule } from 'yargs';

export interface EventsArgs {
  app?: string;
  broker?: string;
  backend?: string;
  dump: boolean;
  limit: number;
}

/** `celeriac events`: its options here; what it does is ../handlers/events.ts, imported when it runs. */
export const eventsCommand: CommandModule<object, EventsArgs> = {
  command: 'events',
  describe: 'Watch workers and tasks live (workers must run with -E)',
  builder: (y) =>
    y
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (for its broker settings)' })
      .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" })
      .option('backend', { type: 'string', hidden: true })
      .option('dump', { type: 'boolean', default: false, describe: 'Print one line per event instead of the live view' })
      .option('limit', { type: 'number', default: 20, describe: 'Recent tasks shown in the live view' })
      .example('$0 events', 'a live table of workers and recent tasks')
      .example('$0 events --dump', 'one line per event'),
  handler: async (args) => (await import('../handlers/events.js')).runEvents(args),
};
