import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, ControlClient } from '../../lib/index.js';
import type { ControlArgs } from '../commands/control.js';
import { destinations, printReplies, remoteApp } from './remote.js';

/** An argument Celery reads as an int (pool_grow's n, autoscale's max and min). */
function integer(text: string, name: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** An argument Celery reads as a float (time_limit's soft and hard seconds). */
function seconds(text: string, name: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0)
    throw new ConfigError(name, `expected seconds, got ${JSON.stringify(text)}`);
  return value;
}

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
      case 'pool_grow':
      case 'pool_shrink':
        replies = await client.broadcast(args.method, { n: integer(positional[0] ?? '1', 'n') }, options);
        break;
      case 'autoscale':
        need(1, 'autoscale <max> [min]');
        replies = await client.broadcast(
          'autoscale',
          { max: integer(positional[0], 'max'), min: positional[1] === undefined ? null : integer(positional[1], 'min') },
          options,
        );
        break;
      case 'time_limit':
        need(2, 'time_limit <task name> <soft secs> [hard secs]');
        replies = await client.broadcast(
          'time_limit',
          {
            task_name: positional[0],
            soft: seconds(positional[1], 'soft'),
            hard: positional[2] === undefined ? null : seconds(positional[2], 'hard'),
          },
          options,
        );
        break;
      case 'enable_events':
      case 'disable_events':
      case 'heartbeat':
        replies = await client.broadcast(args.method, {}, options);
        break;
    }
    printReplies(replies, args.json, true);
  } finally {
    await app.close();
  }
}
