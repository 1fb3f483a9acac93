import { EventEmitter } from 'node:events';
import { redactUrl } from '../util/url.js';
import { storedStatus } from './celery-meta.js';
import type { ChordJoin } from './chord-counter.js';
import { KeyValueBackend, type ChannelSubscriber, type SubscriberEvents } from './key-value-backend.js';
import type { BackendOptions, ResultBackend } from './result-backend.js';

/**
 * `memory://` — results in this process only, for tests and a producer with an in-process worker.
 * Every backend created with the same URL shares one store, so both sides see the same results.
 * The store outlives the instances (like a Redis server outlives its clients): closing a backend
 * closes only that instance.
 */
export function createMemoryBackend(url: string, options: BackendOptions): ResultBackend {
  return new MemoryBackend(url, options);
}

interface Entry {
  readonly value: string;
  /** Date.now() after which the entry is gone; Infinity when it never expires. */
  readonly expiresAt: number;
}

/** How often, at most, a write sweeps expired entries out of the Map. */
const SWEEP_INTERVAL_MS = 1_000;

/** A chord's joined members (Redis: the `.j` sorted set, `.ids` hash and `.claim` key). */
interface JoinedSet {
  readonly members: { score: number; member: string }[];
  readonly ids: Set<string>;
  claim: string | null;
}

/** Beat's lock and schedule state for one scope (Redis: the `leader` key and `last-run` hash). */
interface BeatState {
  holder: string | null;
  /** Date.now() at which the lock lapses. */
  until: number;
  readonly runs: Map<string, number>;
}

/** The state shared by all backends with one URL: the values, and a bus whose event names are channels. */
class MemoryStore {
  readonly entries = new Map<string, Entry>();
  /** Keyed by the `.j` key; deleting that key (chordDone) deletes the set. */
  readonly joined = new Map<string, JoinedSet>();
  /** Revoked task id → when its revocation expires (Redis: the `celeriac-revoked` sorted set). */
  readonly revoked = new Map<string, number>();
  readonly beats = new Map<string, BeatState>();
  readonly bus = new EventEmitter();
  private lastSweep = 0;

  constructor() {
    // Any number of waiters may listen on one channel.
    this.bus.setMaxListeners(0);
  }

  /** Expired entries read as absent; they are also swept out by later writes, so memory stays bounded by the TTL. */
  get(key: string, now: number): string | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return null;
    }
    return entry.value;
  }

  set(key: string, value: string, ttlMs: number, now: number): void {
    this.entries.set(key, { value, expiresAt: ttlMs > 0 ? now + ttlMs : Infinity });
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS) {
      this.lastSweep = now;
      for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
    }
  }
}

const stores = new Map<string, MemoryStore>();

function storeFor(url: string): MemoryStore {
  let store = stores.get(url);
  if (!store) {
    store = new MemoryStore();
    stores.set(url, store);
  }
  return store;
}

class MemoryBackend extends KeyValueBackend {
  private readonly store: MemoryStore;

  constructor(url: string, options: BackendOptions) {
    super(redactUrl(url), options);
    this.store = storeFor(url);
  }

  protected async get(key: string): Promise<string | null> {
    return this.store.get(key, Date.now());
  }

  /** Stores, then publishes synchronously; listeners (the base's message handler) never throw. */
  protected async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.store.set(key, value, ttlMs, Date.now());
    this.store.bus.emit(key, value);
  }

  protected async setUnlessSucceeded(key: string, value: string, ttlMs: number): Promise<boolean> {
    const current = this.store.get(key, Date.now());
    if (current !== null && storedStatus(current) === 'SUCCESS') return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  protected async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const now = Date.now();
    const next = Number(this.store.get(key, now) ?? 0) + by;
    this.store.set(key, String(next), ttlMs, now);
    return next;
  }

  /** Synchronous between the read and the write, hence atomic within the process. */
  async claim(key: string, value: string, ttlMs: number): Promise<string | null> {
    const now = Date.now();
    const held = this.store.get(key, now);
    if (held !== null) return held;
    this.store.set(key, value, Math.max(1, ttlMs), now);
    return null;
  }

  async swapClaim(key: string, expected: string, next: string | null, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    if (this.store.get(key, now) !== expected) return false;
    if (next === null) this.store.entries.delete(key);
    else this.store.set(key, next, Math.max(1, ttlMs), now);
    return true;
  }

  // ---- revocations and beat state: each synchronous, hence atomic within the process ----

  async addRevocations(taskIds: readonly string[], expiresAt: number): Promise<void> {
    this.assertOpen();
    const { revoked } = this.store;
    for (const id of taskIds) revoked.set(id, Math.max(expiresAt, revoked.get(id) ?? 0));
    const now = Date.now();
    for (const [id, at] of revoked) if (at <= now) revoked.delete(id);
  }

  async listRevocations(): Promise<Map<string, number>> {
    this.assertOpen();
    const now = Date.now();
    return new Map([...this.store.revoked].filter(([, at]) => at > now));
  }

  async leadBeat(scope: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const state = this.beatState(scope);
    const now = Date.now();
    if (state.holder !== null && state.holder !== holder && state.until > now) return false;
    state.holder = holder;
    state.until = now + ttlMs;
    return true;
  }

  async releaseBeat(scope: string, holder: string): Promise<void> {
    this.assertOpen();
    const state = this.beatState(scope);
    if (state.holder === holder) state.holder = null;
  }

  async lastBeatRun(scope: string, entry: string): Promise<number | null> {
    this.assertOpen();
    return this.beatState(scope).runs.get(entry) ?? null;
  }

  async recordBeatRun(scope: string, holder: string, entry: string, due: number): Promise<boolean> {
    this.assertOpen();
    const state = this.beatState(scope);
    if (state.holder !== holder || state.until <= Date.now()) return false;
    state.runs.set(entry, due);
    return true;
  }

  private beatState(scope: string): BeatState {
    let state = this.store.beats.get(scope);
    if (!state) this.store.beats.set(scope, (state = { holder: null, until: 0, runs: new Map() }));
    return state;
  }

  protected async delete(key: string): Promise<void> {
    this.store.entries.delete(key);
    this.store.joined.delete(key);
  }

  /** The join step of chord-counter.ts; synchronous, hence atomic within the process. */
  protected async join(join: ChordJoin): Promise<string[] | null> {
    const { keys } = join;
    const now = Date.now();
    let set = this.store.joined.get(keys.joined);
    if (!set) {
      set = { members: [], ids: new Set(), claim: null };
      this.store.joined.set(keys.joined, set);
    }
    if (!set.ids.has(join.taskId)) {
      set.ids.add(join.taskId);
      set.members.push({ score: join.score, member: join.member });
    }
    const size = this.store.get(keys.size, now);
    if (size === null) return null;
    const total = Number(size) + Number(this.store.get(keys.extra, now) ?? 0);
    if (set.members.length < total) return null;
    set.claim ??= join.taskId;
    if (set.claim !== join.taskId) return null;
    // ZRANGE order: by score, then by member.
    const sorted = [...set.members].sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    return sorted.map((m) => m.member);
  }

  protected openSubscriber(events: SubscriberEvents): ChannelSubscriber {
    const { bus } = this.store;
    // Invariant: one bus listener per subscribed channel, removed on unsubscribe or close.
    const listeners = new Map<string, (message: string) => void>();
    return {
      subscribe: async (channel) => {
        if (listeners.has(channel)) return;
        const listener = (message: string): void => events.message(channel, message);
        listeners.set(channel, listener);
        bus.on(channel, listener);
      },
      unsubscribe: async (channel) => {
        const listener = listeners.get(channel);
        if (!listener) return;
        listeners.delete(channel);
        bus.off(channel, listener);
      },
      close: async () => {
        for (const [channel, listener] of listeners) bus.off(channel, listener);
        listeners.clear();
      },
    };
  }

  protected async closeStore(): Promise<void> {
    // Nothing to release: the shared store belongs to the process, not to this instance.
  }
}
