import type { CommandModule } from 'yargs';

export interface ListBindingsArgs {
  app?: string;
  broker?: string;
  managementUrl?: string;
  timeout: number;
}

/** `celeriac list bindings`: its options here; what it does is ../handlers/list.ts, imported when it runs. */
const bindingsCommand: CommandModule<object, ListBindingsArgs> = {
  command: 'bindings',
  describe: "List the broker's queue bindings: queue, exchange, routing key (needs RabbitMQ's management plugin)",
  builder: (y) =>
    y
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app whose broker to ask (default $CELERIAC_APP)' })
      .option('broker', { type: 'string', describe: "Broker URL (default the app's, else $CELERIAC_BROKER_URL)" })
      .option('management-url', {
        type: 'string',
        describe: "RabbitMQ management API (default http://<broker host>:15672, with the broker URL's user and password)",
      })
      .option('timeout', { alias: 't', type: 'number', default: 5, describe: 'Seconds to wait for the management API' })
      .example('$0 list bindings -A ./dist/tasks.js', 'the bindings of the vhost the app uses')
      .example('$0 list bindings --management-url http://rabbit:15672', 'the management API elsewhere'),
  handler: async (args) => (await import('../handlers/list.js')).runListBindings(args),
};

/** `celeriac list`: information from the broker, as Celery's `celery list`. */
export const listCommand: CommandModule = {
  command: 'list',
  describe: "Get information from the broker: `list bindings` (Celery's `celery list bindings`)",
  builder: (y) => y.command(bindingsCommand).demandCommand(1, 'Name what to list: bindings.'),
  handler: () => undefined,
};
