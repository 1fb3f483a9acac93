import type { CommandModule } from 'yargs';
import { remoteOptions, type RemoteArgs } from './remote-options.js';

const METHODS = [
  'revoke',
  'rate_limit',
  'shutdown',
  'add_consumer',
  'cancel_consumer',
  'pool_grow',
  'pool_shrink',
  'autoscale',
  'time_limit',
  'enable_events',
  'disable_events',
  'heartbeat',
] as const;

export interface ControlArgs extends RemoteArgs {
  method: (typeof METHODS)[number];
  arguments: string[];
  terminate: boolean;
}

/** `celeriac control`: its options here; what it does is ../handlers/control.ts, imported when it runs. */
export const controlCommand: CommandModule<object, ControlArgs> = {
  command: 'control <method> [arguments..]',
  describe: 'Tell workers to revoke tasks, change rate limits, time limits or pool size, consume queues, send events or shut down',
  builder: (y) =>
    remoteOptions(y)
      .positional('method', { choices: METHODS, demandOption: true, describe: 'What to do' })
      .positional('arguments', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe:
          'revoke <id...> | rate_limit <task> <rate> | add_consumer <queue> | cancel_consumer <queue> | pool_grow [n] | ' +
          'pool_shrink [n] | autoscale <max> [min] | time_limit <task> <soft secs> [hard secs]',
      })
      .option('terminate', { type: 'boolean', default: false, describe: 'revoke: also give up the task if it is running' })
      .example('$0 control revoke 5b7c... --terminate', 'revoke a task, stopping it if it runs')
      .example('$0 control rate_limit tasks.add 10/m', 'at most 10 starts a minute per worker')
      .example('$0 control add_consumer images -d celeriac@web1', 'one worker also consumes "images"')
      .example('$0 control autoscale 10 2', 'concurrency follows the load between 2 and 10'),
  handler: async (args) => (await import('../handlers/control.js')).runControl(args),
};
