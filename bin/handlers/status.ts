import type { ArgumentsCamelCase } from 'yargs';
import { ControlClient } from '../../lib/index.js';
import type { RemoteArgs } from '../commands/remote-options.js';
import { destinations, printReplies, remoteApp } from './remote.js';

/** Pings the workers (all, or those of -d) and prints who answered, as `celery status` does. */
export async function runStatus(args: ArgumentsCamelCase<RemoteArgs>): Promise<void> {
  const app = await remoteApp(args);
  try {
    const dest = destinations(args);
    const replies = await new ControlClient(app).inspect('ping', { timeout: args.timeout, ...(dest ? { destination: dest } : {}) });
    printReplies(replies, args.json);
  } finally {
    await app.close();
  }
}
