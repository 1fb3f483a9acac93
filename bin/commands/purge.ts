import { createInterface } from 'node:readline/promises';
import type { CommandModule } from 'yargs';
import { ConfigError } from '../../lib/index.js';
import { commandApp } from '../load-app.js';

interface PurgeArgs {
  queues?: string;
  force: boolean;
  app?: string;
  broker?: string;
}

export const purgeCommand: CommandModule<object, PurgeArgs> = {
  command: 'purge',
  describe: 'Delete all waiting messages from task queues (cannot be undone)',
  builder: (y) =>
    y
      .option('queues', { alias: 'Q', type: 'string', describe: 'Comma-separated queues (default: the app\'s default queue)' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app' })
      .option('broker', { type: 'string', describe: 'Broker URL (default $CELERIAC_BROKER_URL or the app\'s)' }),
  handler: async (args) => {
    const app = await commandApp({ app: args.app, broker: args.broker }, 'celeriac-purge', { backend: null });
    const queues = args.queues ? args.queues.split(',').map((q) => q.trim()).filter(Boolean) : [app.config.defaultQueue];
    try {
      if (!args.force) {
        if (!process.stdin.isTTY) throw new ConfigError('--force', 'refusing to purge without confirmation; pass --force');
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Delete all waiting messages in ${queues.join(', ')} on ${app.transport.url}? (yes/NO) `);
        rl.close();
        if (answer.trim().toLowerCase() !== 'yes') {
          process.stdout.write('Nothing purged.\n');
          return;
        }
      }
      let total = 0;
      for (const queue of queues) {
        const count = await app.transport.purge(queue);
        total += count;
        process.stdout.write(`${queue}: ${count} message(s) purged\n`);
      }
      process.stdout.write(`Purged ${total} message(s) from ${queues.length} queue(s).\n`);
    } finally {
      await app.close();
    }
  },
};
