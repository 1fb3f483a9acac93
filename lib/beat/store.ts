import { Redis } from '../util/ioredis.js';
import type { App } from '../app/app.js';
import { ConfigError } from '../errors/errors.js';

/**
 * What beat processes share: the leader lock and, per entry, the due time of its last sent run.
 * Every write of a run is conditional on still holding the lock, so a process that lost the
 * lock (paused, partitioned) cannot record or — since it sends only after checking — send runs
 * for long after a new leader took over.
 */
export interface BeatStore {
  /** Takes the lock if free, or extends it if `id` holds it. True when `id` leads afterwards. */
  lead(id: string, ttlMs: number): Promise<boolean>;
  /** Gives the lock up if `id` holds it. */
  release(id: string): Promise<void>;
  lastRun(entry: string): Promise<number | null>;
  /** Records the entry's last sent due time, only while `id` holds the lock; false otherwise. */
  recordRun(id: string, entry: string, due: number): Promise<boolean>;
  close(): Promise<void>;
}

const LEAD = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0`;
const RECORD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`;

class RedisBeatStore implements BeatStore {
  readonly #client: Redis;
  constructor(url: string, private readonly prefix: string) {
    this.#client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 3000 });
    this.#client.on('error', () => undefined);
  }
  private get lockKey(): string {
    return `${this.prefix}:leader`;
  }
  private get runsKey(): string {
    return `${this.prefix}:last-run`;
  }
  async lead(id: string, ttlMs: number): Promise<boolean> {
    return (await this.#client.eval(LEAD, 1, this.lockKey, id, String(ttlMs))) === 1;
  }
  async release(id: string): Promise<void> {
    await this.#client.eval(RELEASE, 1, this.lockKey, id);
  }
  async lastRun(entry: string): Promise<number | null> {
    const value = await this.#client.hget(this.runsKey, entry);
    return value === null ? null : Number(value);
  }
  async recordRun(id: string, entry: string, due: number): Promise<boolean> {
    return (await this.#client.eval(RECORD, 2, this.lockKey, this.runsKey, id, entry, String(due))) === 1;
  }
  async close(): Promise<void> {
    this.#client.disconnect();
  }
}

interface MemoryState {
  holder: string | null;
  until: number;
  runs: Map<string, number>;
}
const memoryStates = new Map<string, MemoryState>();

class MemoryBeatStore implements BeatStore {
  constructor(private readonly state: MemoryState) {}
  async lead(id: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    if (this.state.holder !== null && this.state.holder !== id && this.state.until > now) return false;
    this.state.holder = id;
    this.state.until = now + ttlMs;
    return true;
  }
  async release(id: string): Promise<void> {
    if (this.state.holder === id) this.state.holder = null;
  }
  async lastRun(entry: string): Promise<number | null> {
    return this.state.runs.get(entry) ?? null;
  }
  async recordRun(id: string, entry: string, due: number): Promise<boolean> {
    if (this.state.holder !== id || this.state.until <= Date.now()) return false;
    this.state.runs.set(entry, due);
    return true;
  }
  async close(): Promise<void> {}
}

/** The store for the app's result backend: redis:// (shared across hosts) or memory:// (one process). */
export function beatStore(app: App, url: string | null = app.config.backend): BeatStore {
  const scheme = url ? url.slice(0, url.indexOf(':')) : '';
  const prefix = `celeriac-beat:${app.config.name}`;
  if (scheme === 'redis' || scheme === 'rediss') return new RedisBeatStore(url!, prefix);
  if (scheme === 'memory') {
    const key = `${url}\u0000${prefix}`;
    let state = memoryStates.get(key);
    if (!state) memoryStates.set(key, (state = { holder: null, until: 0, runs: new Map() }));
    return new MemoryBeatStore(state);
  }
  throw new ConfigError('backend', `celeriac beat keeps its leader lock and schedule state in Redis: use a redis:// result backend or pass --redis (got ${url ?? 'none'})`);
}
