import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { AMQP_URL } from './apps.js';

const run = promisify(execFile);

/** A queue as the broker itself reports it (`rabbitmqctl list_queues`), arguments by name. */
export interface BrokerQueue {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  exclusive: boolean;
  arguments: Record<string, unknown>;
  consumers: number;
  messages: number;
  unacked: number;
}

/**
 * The named queues as the broker declares them, read back with `rabbitmqctl list_queues` (not
 * through celeriac), keyed by name; a name the broker does not have is missing from the result.
 */
export async function brokerQueues(names: readonly string[]): Promise<Map<string, BrokerQueue>> {
  const fields = [
    'name',
    'type',
    'durable',
    'auto_delete',
    'exclusive',
    'arguments',
    'consumers',
    'messages_ready',
    'messages_unacknowledged',
  ];
  const { stdout } = await run('rabbitmqctl', ['list_queues', '-q', '--formatter', 'json', ...fields], {
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const rows = JSON.parse(stdout) as Record<string, unknown>[];
  const wanted = new Set(names);
  const found = new Map<string, BrokerQueue>();
  for (const row of rows) {
    const name = String(row.name);
    if (!wanted.has(name)) continue;
    // rabbitmqctl's JSON gives each argument as [name, AMQP type, value].
    const args = Object.fromEntries((row.arguments as [string, string, unknown][]).map(([key, , value]) => [key, value]));
    found.set(name, {
      name,
      type: String(row.type),
      durable: row.durable === true,
      autoDelete: row.auto_delete === true,
      exclusive: row.exclusive === true,
      arguments: args,
      consumers: Number(row.consumers),
      messages: Number(row.messages_ready),
      unacked: Number(row.messages_unacknowledged),
    });
  }
  return found;
}

/** Runs `work` on a channel of a connection of its own (not celeriac's), closed afterwards. */
export async function withRawChannel<T>(work: (channel: amqp.Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return await work(channel);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Deletes queues by name on a connection of its own; a queue already gone is fine. */
export async function deleteQueues(names: readonly string[]): Promise<void> {
  await deleteCreated({ queues: names, exchanges: [] });
}

/**
 * Deletes exactly the queues and exchanges named, on a connection of its own, each on a channel
 * of its own (a 404 closes a channel); one already gone is fine.
 */
export async function deleteCreated(created: { queues: readonly string[]; exchanges: readonly string[] }): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const each = async (remove: (channel: amqp.Channel) => Promise<unknown>): Promise<void> => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await remove(channel).catch(() => undefined);
      await channel.close().catch(() => undefined);
    };
    for (const queue of created.queues) await each((channel) => channel.deleteQueue(queue));
    for (const exchange of created.exchanges) await each((channel) => channel.deleteExchange(exchange));
  } finally {
    await connection.close().catch(() => undefined);
  }
}
