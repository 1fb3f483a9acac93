import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, ControlClient } from '../../lib/index.js';
import type { ControlArgs } from '../commands/control.js';
import { destinations, printReplies, remoteApp } from './remote.js';

/** Sends the control command to the workers (all, or those of -d) and prints their replies. */
export async function runControl(args: ArgumentsCamelCase<ControlArgs>): Promise<void> {
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
        replies = await client.rateLimit(positional[0], positional[1], options);
        break;
      case 'add_consumer':
        need(1, 'add_consumer <queue>');
        replies = await client.addConsumer(positional[0], options);
        break;
      case 'cancel_consumer':
        need(1, 'cancel_consumer <queue>');
        replies = await client.cancelConsumer(positional[0], options);
        break;
      case 'shutdown':
        replies = await client.shutdown({ ...options, reply: true });
        break;
    }
    printReplies(replies, args.json, true);
  } finally {
    await app.close();
  }
}
