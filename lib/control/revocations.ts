import { Redis } from '../util/ioredis.js';
import type { App } from '../app/app.js';

/**
 * Where revocations outlive the broadcast that announced them, so a worker that starts later
 * still honours them (Celery keeps revokes in worker memory only and loses those sent while no
 * worker listens: celery/celery#8888). Chosen by the app's result backend:
 *
 * - redis:// / rediss:// — one sorted set `celeriac-revoked`, member = task id, score = the
 *   time (ms) the revocation expires; expired members are pruned on every write;
 * - memory:// — a process-wide map per backend URL (same semantics, for specs and demos);
 * - rpc:// or no backend — nothing is stored: revokes live in worker memory, as in Celery.
 */
export interface RevocationStore {
  /** Records the ids as revoked until `expiresAt` (ms since the epoch). */
  add(taskIds: readonly string[], expiresAt: number): Promise<void>;
  /** The ids revoked and not expired, with their expiry. */
  list(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** How long a revocation is remembered: Celery's REVOKE_EXPIRES (3 hours). */
export const REVOKE_EXPIRES_MS = 3 * 3600_000;
/** Most revoked ids a worker keeps in memory (Celery's maxlen). */
export const REVOKES_MAX = 50_000;
export const REVOKED_KEY = 'celeriac-revoked';

const memoryStores = new Map<string, Map<string, number>>();

export function revocationStore(app: App): RevocationStore {
  const url = app.config.backend;
  const scheme = url ? url.slice(0, url.indexOf(':')) : '';
  if (scheme === 'redis' || scheme === 'rediss') return new RedisRevocations(url!);
  if (scheme === 'memory') {
    let entries = memoryStores.get(url!);
    if (!entries) memoryStores.set(url!, (entries = new Map()));
    return new MemoryRevocations(entries);
  }
  return new MemoryRevocations(new Map());
}

class MemoryRevocations implements RevocationStore {
  constructor(private readonly entries: Map<string, number>) {}
  async add(taskIds: readonly string[], expiresAt: number): Promise<void> {
    for (const id of taskIds) this.entries.set(id, Math.max(expiresAt, this.entries.get(id) ?? 0));
  }
  async list(): Promise<Map<string, number>> {
    const now = Date.now();
    for (const [id, at] of this.entries) if (at <= now) this.entries.delete(id);
    return new Map(this.entries);
  }
  async close(): Promise<void> {}
}

class RedisRevocations implements RevocationStore {
  readonly #client: Redis;
  constructor(url: string) {
    this.#client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 3000 });
    this.#client.on('error', () => undefined);
  }
  async add(taskIds: readonly string[], expiresAt: number): Promise<void> {
    if (taskIds.length === 0) return;
    const members = taskIds.flatMap((id) => [expiresAt, id] as const);
    await this.#client
      .multi()
      // GT: a later expiry wins; a member is added when missing.
      .zadd(REVOKED_KEY, 'GT', ...members)
      .zremrangebyscore(REVOKED_KEY, '-inf', Date.now())
      .pexpire(REVOKED_KEY, REVOKE_EXPIRES_MS * 2)
      .exec();
  }
  async list(): Promise<Map<string, number>> {
    const flat = await this.#client.zrangebyscore(REVOKED_KEY, Date.now(), '+inf', 'WITHSCORES');
    const result = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) result.set(flat[i]!, Number(flat[i + 1]));
    return result;
  }
  async close(): Promise<void> {
    this.#client.disconnect();
  }
}

/** A worker's in-memory revoked ids: bounded (oldest dropped first) and expiring. */
export class RevokedSet {
  readonly #entries = new Map<string, number>();
  add(taskId: string, expiresAt: number): void {
    this.#entries.delete(taskId);
    this.#entries.set(taskId, expiresAt);
    while (this.#entries.size > REVOKES_MAX) this.#entries.delete(this.#entries.keys().next().value!);
  }
  has(taskId: string, now = Date.now()): boolean {
    const at = this.#entries.get(taskId);
    if (at === undefined) return false;
    if (at > now) return true;
    this.#entries.delete(taskId);
    return false;
  }
  ids(now = Date.now()): string[] {
    return [...this.#entries].filter(([, at]) => at > now).map(([id]) => id);
  }
}
