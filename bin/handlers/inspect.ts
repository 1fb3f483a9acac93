import type { ArgumentsCamelCase } from 'yargs';
import { ControlClient } from '../../lib/index.js';
import type { InspectArgs } from '../commands/inspect.js';
import { destinations, printReplies, remoteApp } from './remote.js';

/** Asks the workers (all, or those of -d) and prints their replies. */
export async function runInspect(args: ArgumentsCamelCase<InspectArgs>): Promise<void> {
  const app = await remoteApp(args);
  try {
    const client = new ControlClient(app);
    const dest = destinations(args);
    const replies = await client.inspect(args.method, { timeout: args.timeout, ...(dest ? { destination: dest } : {}) });
    printReplies(replies, args.json);
  } finally {
    await app.close();
  }
}
