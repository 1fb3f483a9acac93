import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../../lib/index.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { destinations, printReplies, remoteApp, remoteOptions, type RemoteArgs } from './inspect.js';

const METHODS = ['revoke', 'rate_limit', 'shutdown', 'add_consumer', 'cancel_consumer'] as const;

interface ControlArgs extends RemoteArgs {
  method: (typeof METHODS)[number];
  arguments: string[];
  terminate: boolean;
}

export const controlCommand: CommandModule<object, ControlArgs> = {
  command: 'control <method> [arguments..]',
  describe: 'Tell workers to revoke tasks, change rate limits, consume queues or shut down',
  builder: (y) =>
    remoteOptions(y)
      .positional('method', { choices: METHODS, demandOption: true, describe: 'What to do' })
      .positional('arguments', { type: 'string', array: true, default: [] as string[], describe: 'revoke <id...> | rate_limit <task> <rate> | add_consumer <queue> | cancel_consumer <queue>' })
      .option('terminate', { type: 'boolean', default: false, describe: 'revoke: also give up the task if it is running' })
      .example('$0 control revoke 5b7c... --terminate', 'revoke a task, stopping it if it runs')
      .example('$0 control rate_limit tasks.add 10/m', 'at most 10 starts a minute per worker')
      .example('$0 control add_consumer images -d celeriac@web1', 'one worker also consumes "images"') as Argv<ControlArgs>,
  handler: async (args) => {
    const positional = args.arguments.map(String);
    const need = (count: number, usage: string): void => {
      if (positional.length < count) throw new ConfigError(args.method, `usage: celeriac control ${usage}`);
    };
    const app = await remoteApp(args);
    try {
      const client = new ControlClient(app);
      const dest = destinations(args);
      const options = { timeout: args.timeout, ...(dest ? { destination: dest } : {}) };
      let replies;
      switch (args.method) {
        case 'revoke':
          need(1, 'revoke <task id>... [--terminate]');
          replies = await client.revoke(positional, { ...options, terminate: args.terminate, reply: true });
          break;
        case 'rate_limit':
          need(2, 'rate_limit <task name> <rate, e.g. 10/m>');
          replies = await client.rateLimit(positional[0]!, positional[1]!, options);
          break;
        case 'add_consumer':
          need(1, 'add_consumer <queue>');
          replies = await client.addConsumer(positional[0]!, options);
          break;
        case 'cancel_consumer':
          need(1, 'cancel_consumer <queue>');
          replies = await client.cancelConsumer(positional[0]!, options);
          break;
        case 'shutdown':
          replies = await client.shutdown({ ...options, reply: true });
          break;
      }
      printReplies(replies, args.json);
    } finally {
      await app.close();
    }
  },
};
