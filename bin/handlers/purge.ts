import { createInterface } from 'node:readline/promises';
import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, TransportError, type App } from '../../lib/index.js';
import type { PurgeArgs } from '../commands/purge.js';
import { commaList } from '../comma-list.js';
import { commandApp } from '../load-app.js';

/**
 * The queues to purge, as Celery's purge picks them: those of -Q, else the app's known queues
 * (its default queue and those its `queues` setting names), less those of -X.
 */
function queuesToPurge(app: App, args: PurgeArgs): string[] {
  const requested = commaList(args.queues);
  const known = requested.length > 0 ? requested : [app.config.defaultQueue, ...Object.keys(app.config.queues)];
  const excluded = new Set(commaList(args['exclude-queues']));
  return [...new Set(known)].filter((queue) => !excluded.has(queue));
}

/** Deletes the waiting messages of the queues, after confirmation unless --force. */
export async function runPurge(args: ArgumentsCamelCase<PurgeArgs>): Promise<void> {
  const app = await commandApp({ app: args.app, broker: args.broker }, 'celeriac-purge', { backend: null });
  try {
    const queues = queuesToPurge(app, args);
    if (queues.length === 0) {
      process.stdout.write('No queues to purge: -X excludes them all.\n');
      return;
    }
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
      const count = await purgeQueue(app, queue);
      total += count;
      process.stdout.write(`${queue}: ${count} message(s) purged\n`);
    }
    process.stdout.write(`Purged ${total} message(s) from ${queues.length} queue(s).\n`);
  } finally {
    await app.close();
  }
}

/** A queue that does not exist holds nothing (Celery's purge counts it as 0 too). */
async function purgeQueue(app: App, queue: string): Promise<number> {
  try {
    return await app.transport.purge(queue);
  } catch (error) {
    if (error instanceof TransportError && error.reason === 'not-found') return 0;
    throw error;
  }
}
