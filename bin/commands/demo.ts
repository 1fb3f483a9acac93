import type { CommandModule } from 'yargs';
import type { LogLevel } from '../../lib/index.js';
import { logLevelOption } from './log-level-option.js';

export interface DemoArgs {
  broker?: string;
  backend?: string;
  loglevel: LogLevel;
}

/** `celeriac demo`: its options here; what it does is ../handlers/demo.ts, imported when it runs. */
export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Run the walkthrough in one process: worker, tasks, canvas, results',
  builder: (y) =>
    y
      .option('broker', { type: 'string', describe: 'Broker URL (default $CELERIAC_BROKER_URL, else the embedded memory://)' })
      .option('backend', { type: 'string', describe: 'Result backend URL (default $CELERIAC_RESULT_BACKEND, else memory://)' })
      .option('loglevel', logLevelOption('warn', 'Worker log level'))
      .example('$0 demo', 'on the embedded memory:// broker')
      .example('$0 demo --broker amqp://guest:guest@127.0.0.1:5672 --backend redis://127.0.0.1:6379/0', 'on RabbitMQ and Redis'),
  handler: async (args) => (await import('../handlers/demo.js')).runDemo(args),
};
