import type { CommandModule } from 'yargs';
import { createApp, type App, type CallOptions } from '../../lib/index.js';
import { ConfigError } from '../../lib/index.js';
import { loadApp } from '../load-app.js';

interface CallArgs {
  name: string;
  args: string;
  kwargs: string;
  app?: string;
  broker?: string;
  backend?: string;
  queue?: string;
  countdown?: string;
  expires?: string;
  priority?: number;
  serializer?: string;
  wait: boolean;
  timeout: string;
}

export const callCommand: CommandModule<object, CallArgs> = {
  command: 'call <name>',
  describe: 'Send a task by name; prints its id, or its result with --wait',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'Task name, e.g. tasks.add' })
      .option('args', { type: 'string', default: '[]', describe: 'Positional arguments as a JSON array' })
      .option('kwargs', { type: 'string', default: '{}', describe: 'Keyword arguments as a JSON object' })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (for its broker/backend settings)' })
      .option('broker', { type: 'string', describe: 'Broker URL (default $CELERIAC_BROKER_URL or the app\'s)' })
      .option('backend', { type: 'string', describe: 'Result backend URL (default $CELERIAC_RESULT_BACKEND or the app\'s)' })
      .option('queue', { alias: 'Q', type: 'string', describe: 'Queue to send to' })
      .option('countdown', { type: 'string', describe: 'Delay before the task may start (ms or 10s, 5m, ...)' })
      .option('expires', { type: 'string', describe: 'Expiry (ms or 10s, 5m, ...)' })
      .option('priority', { type: 'number', describe: 'Message priority 0-9' })
      .option('serializer', { choices: ['json', 'msgpack'], describe: 'Message serializer' })
      .option('wait', { type: 'boolean', default: false, describe: 'Wait for the result and print it' })
      .option('timeout', { type: 'string', default: '60s', describe: 'How long --wait waits' })
      .example('$0 call tasks.add --args \'[2, 3]\' --wait', 'run add(2, 3) and print 5'),
  handler: async (args) => {
    const parsedArgs = parseJson('--args', args.args);
    const parsedKwargs = parseJson('--kwargs', args.kwargs);
    if (!Array.isArray(parsedArgs)) throw new ConfigError('--args', 'expected a JSON array');
    if (typeof parsedKwargs !== 'object' || parsedKwargs === null || Array.isArray(parsedKwargs)) {
      throw new ConfigError('--kwargs', 'expected a JSON object');
    }
    const app: App = args.app
      ? await loadApp(args.app)
      : createApp({ name: 'celeriac-call', ...(args.broker ? { broker: args.broker } : {}), ...(args.backend ? { backend: args.backend } : {}) });
    const options: CallOptions = {
      ...(args.queue ? { queue: args.queue } : {}),
      ...(args.countdown ? { countdown: args.countdown } : {}),
      ...(args.expires ? { expires: args.expires } : {}),
      ...(args.priority !== undefined ? { priority: args.priority } : {}),
      ...(args.serializer ? { serializer: args.serializer } : {}),
    };
    try {
      const result = await app.sendTask(args.name, parsedArgs, parsedKwargs as Record<string, unknown>, options);
      if (!args.wait) {
        process.stdout.write(`${result.id}\n`);
        return;
      }
      const value = await result.get({ timeout: args.timeout });
      process.stdout.write(`${JSON.stringify(value)}\n`);
    } finally {
      await app.close();
    }
  },
};

function parseJson(option: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(option, `not valid JSON: ${(error as Error).message}`);
  }
}
