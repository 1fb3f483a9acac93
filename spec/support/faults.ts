import { execFile } from 'node:child_process';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

/**
 * Broker and Redis faults for spec/reliability. These act on the shared RabbitMQ node and Redis
 * server, so the suite runs alone (spec/run.mjs runs it after the others, one file at a time),
 * and every fault is undone in the spec's `finally`/`after` with the matching restore below.
 */

const run = promisify(execFile);

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** `rabbitmqctl stop_app`: the node stays up, the AMQP listener and every connection go. */
export async function stopBroker(): Promise<void> {
  await rabbitmqctl('stop_app');
}

/** `start_app`, then waits for port 5672. Safe to call when the app is already running. */
export async function startBroker(): Promise<void> {
  await rabbitmqctl('start_app');
  await waitFor(() => portOpen(5672), 'RabbitMQ port 5672', 60_000, 200);
}

/** 0 raises a memory alarm at once (publishers blocked); 0.4 is the default. */
export async function setWatermark(fraction: number): Promise<void> {
  await rabbitmqctl('set_vm_memory_high_watermark', String(fraction));
}

export async function closeAllConnections(why: string): Promise<void> {
  await rabbitmqctl('close_all_connections', why);
}

/** Messages ready and unacknowledged in a queue (0/0 when it does not exist). */
export async function queueDepth(queue: string): Promise<{ ready: number; unacked: number }> {
  const out = await rabbitmqctl('list_queues', '-q', '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged');
  for (const line of out.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  return { ready: 0, unacked: 0 };
}

const REDIS_PORT = 6379;
/** How CI starts Redis (.ci/run): nothing kept on disk, so a restart loses every key. */
const REDIS_ARGS = [
  '--daemonize',
  'yes',
  '--bind',
  '127.0.0.1',
  '-::1',
  '--port',
  String(REDIS_PORT),
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  '/var/lib/redis',
  '--logfile',
  '/var/log/redis/ci.log',
];

/** SHUTDOWN NOSAVE; resolves once the port is closed. */
export async function stopRedis(): Promise<void> {
  const client = new Redis({ port: REDIS_PORT, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  } catch {
    // already down
  } finally {
    client.disconnect();
  }
  await waitFor(async () => !(await portOpen(REDIS_PORT)), 'Redis to stop', 10_000);
}

/**
 * True when a Redis server (or sentinel) on 127.0.0.1:`port` answers PING (over TLS when `tls`
 * is given); one short-lived client, no retries.
 */
export async function redisAnswers(port: number, password?: string, tls?: ConnectionOptions): Promise<boolean> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    password,
    tls,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Starts Redis as CI does (no-op when it is up); resolves once it answers PING. */
export async function startRedis(): Promise<void> {
  if (!(await portOpen(REDIS_PORT))) {
    await run('mkdir', ['-p', '/var/lib/redis', '/var/log/redis']);
    await run('redis-server', REDIS_ARGS, { timeout: 10_000 });
  }
  await waitFor(() => redisAnswers(REDIS_PORT), 'Redis to answer PING', 15_000, 100);
}

/** Puts broker and Redis back as CI expects them; for `after` hooks. */
export async function restoreServices(): Promise<void> {
  await startBroker().catch(() => undefined);
  await rabbitmqctl('resume_listeners').catch(() => undefined);
  await setWatermark(0.4).catch(() => undefined);
  await startRedis().catch(() => undefined);
}
