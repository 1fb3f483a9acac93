/**
 * BullMQ, the Node peer measured beside celeriac and the floor (`--peers`): what its bench
 * producer and worker share. A job is `{ i }` and its worker returns `i`, like celeriac's
 * bench.noop; jobs keep BullMQ's defaults (completed jobs stay in Redis until the run's
 * queue is obliterated after the scenario).
 */
import type { ConnectionOptions } from 'bullmq';

export interface BullmqBenchConfig {
  /** Redis, as a redis:// URL. */
  redisUrl: string;
  /** BullMQ queue name, unique to the run. */
  queue: string;
  n: number;
  warmup: number;
}

export const JOB_NAME = 'noop';

/** BullMQ's connection options for a redis:// or rediss:// URL (host, port, db, user, password, TLS). */
export function connectionOf(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    // A BullMQ Worker refuses a connection that gives up on commands.
    maxRetriesPerRequest: null,
  };
}
