import type { App } from '../app/app.js';
import { createBackend } from '../backends/registry.js';
import type { ResultBackend } from '../backends/result-backend.js';
import { ConfigError } from '../errors/errors.js';
import { redactUrl, schemeOf } from '../util/url.js';

/**
 * What beat processes share: the leader lock and, per entry, the due time of its last sent run.
 * Every write of a run is conditional on still holding the lock, so a process that lost the
 * lock (paused, partitioned) cannot record or — since it sends only after checking — send runs
 * for long after a new leader took over.
 *
 * The store is a capability of a result backend (`ResultBackend.leadBeat` and the rest): the
 * app's, or one of its own for `--redis` / `BeatOptions.redisUrl`, created through the backend
 * registry. Errors are the backend's (BackendError naming its URL).
 */
export interface BeatStore {
  /** Takes the lock if free, or extends it if `id` holds it. True when `id` leads afterwards. */
  lead(id: string, ttlMs: number): Promise<boolean>;
  /** Gives the lock up if `id` holds it. */
  release(id: string): Promise<void>;
  lastRun(entry: string): Promise<number | null>;
  /** Records the entry's last sent due time, only while `id` holds the lock; false otherwise. */
  recordRun(id: string, entry: string, due: number): Promise<boolean>;
  /** Closes the backend if the store opened one of its own; the app's stays open. */
  close(): Promise<void>;
}

/**
 * The store in the backend at `url`: the app's result backend when `url` is the app's
 * (default), else a backend of its own (a sentinel:// one with the app's backendTls and
 * resultBackendTransportOptions, TLS included). redis:// shares the lock across hosts; memory://
 * within one process. Throws ConfigError naming `backend` when there is none or it keeps no beat
 * state (rpc://).
 */
export function beatStore(app: App, url: string | null = app.config.backend): BeatStore {
  if (url === null) throw refusal('none');
  const own = url !== app.config.backend;
  const backend = own
    ? createBackend(url, {
        resultExpiresMs: app.config.resultExpiresMs,
        logger: app.logger,
        // A sentinel:// --redis URL may take its primary's name and its sentinels' credentials and
        // TLS from the app's transport options, and its data nodes' TLS from the app's backendTls
        // (its URL cannot carry TLS settings); resultBackendWaitForReplicas is the app's backend's,
        // not this one's.
        connection: app.config.resultBackendTransportOptions,
        ...(schemeOf(url) === 'sentinel' ? { tls: app.config.backendTls } : {}),
      })
    : app.backend;
  const store = beatStoreOf(backend, app.config.name);
  if (!store) {
    if (own) void backend.close();
    throw refusal(redactUrl(url));
  }
  return own ? { ...store, close: () => backend.close() } : store;
}

function refusal(got: string): ConfigError {
  return new ConfigError(
    'backend',
    'celeriac beat keeps its leader lock and schedule state in the result backend: ' +
      `use a redis:// result backend or pass --redis (got ${got})`,
  );
}

/** The beat store of an open backend under `scope` (an app name), or null when it keeps none; closing it leaves the backend open. */
export function beatStoreOf(backend: ResultBackend, scope: string): BeatStore | null {
  // Called on the backend below.
  // oxlint-disable-next-line typescript/unbound-method
  const { leadBeat, releaseBeat, lastBeatRun, recordBeatRun } = backend;
  if (!leadBeat || !releaseBeat || !lastBeatRun || !recordBeatRun) return null;
  return {
    lead: (id, ttlMs) => leadBeat.call(backend, scope, id, ttlMs),
    release: (id) => releaseBeat.call(backend, scope, id),
    lastRun: (entry) => lastBeatRun.call(backend, scope, entry),
    recordRun: (id, entry, due) => recordBeatRun.call(backend, scope, id, entry, due),
    close: () => Promise.resolve(),
  };
}
