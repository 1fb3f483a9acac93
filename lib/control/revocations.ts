import type { App } from '../app/app.js';
import type { ResultBackend } from '../backends/result-backend.js';

/**
 * Where revocations outlive the broadcast that announced them, so a worker that starts later
 * still honours them (Celery keeps revokes in worker memory only and loses those sent while no
 * worker listens: celery/celery#8888). They are a capability of the app's result backend
 * (`ResultBackend.addRevocations` / `listRevocations`), on its connection and with its errors:
 *
 * - redis:// / rediss:// — one sorted set `celeriac-revoked`, member = task id, score = the
 *   time (ms) the revocation expires (see lib/backends/redis/lua/add-revocations.lua);
 * - memory:// — in the store shared by every backend with that URL (same semantics);
 * - rpc:// or no backend — none: `revocationStore` answers null, and revokes live in the
 *   memory of the workers that received them, as in Celery (the control server says so when
 *   it starts).
 */
export interface RevocationStore {
  /** Records the ids as revoked until `expiresAt` (ms since the epoch). */
  add(taskIds: readonly string[], expiresAt: number): Promise<void>;
  /** The ids revoked and not expired, with their expiry. */
  list(): Promise<Map<string, number>>;
}

/** How long a revocation is remembered: Celery's REVOKE_EXPIRES (3 hours). */
export const REVOKE_EXPIRES_MS = 3 * 3600_000;
/** Most revoked ids a worker keeps in memory (Celery's maxlen). */
export const REVOKES_MAX = 50_000;

/** The app's backend as a revocation store, or null when it keeps none (rpc://, no backend). */
export function revocationStore(app: App): RevocationStore | null {
  if (!app.hasBackend) return null;
  return revocationsOf(app.backend);
}

/** The backend's revocation capability, or null when it has none. */
export function revocationsOf(backend: ResultBackend): RevocationStore | null {
  // Bound to the backend below.
  // oxlint-disable-next-line typescript/unbound-method
  const { addRevocations, listRevocations } = backend;
  if (!addRevocations || !listRevocations) return null;
  return { add: addRevocations.bind(backend), list: listRevocations.bind(backend) };
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
