import { createInterface } from 'node:readline/promises';
import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError } from '../../lib/index.js';
import type { PurgeArgs } from '../commands/purge.js';
import { commandApp } from '../load-app.js';

/** Deletes the waiting messages of the queues, after confirmation unless --force. */
export async function runPurge(args: ArgumentsCamelCase<PurgeArgs>): Promise<void> {
  const app = await commandApp({ app: args.app, broker: args.broker }, 'celeriac-purge', { backend: null });
  const queues = args.queues
    ? args.queues
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean)
    : [app.config.defaultQueue];
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
}
