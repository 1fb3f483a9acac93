import type { TaskState } from '../protocol/states.js';
import type { TaskMeta } from '../protocol/task-meta.js';

/** What the producer of the message asked for, so that backends replying by message (rpc) can route. */
export interface StoreContext {
  replyTo?: string;
  correlationId?: string;
}

export interface WaitOptions<T = TaskMeta> {
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * The wait is for a task whose message this process is still sending: this settles once the
   * broker confirmed or refused it. A backend that subscribes and then reads the stored state
   * (to catch an outcome stored before its subscription) may put that read off until then:
   * RabbitMQ confirms a message taken by a consumer only after the consumer's ack, which a worker
   * sends after storing the outcome, so the outcome usually arrives by subscription first and the
   * read is skipped. An outcome stored before the subscription is still read, just later.
   * If it rejects, the wait rejects with its reason: a message never sent has no outcome.
   */
  sending?: Promise<unknown>;
  /**
   * What the wait resolves with, made from the ready meta (default: the meta itself); a throw
   * rejects the wait with what it threw. For a caller that would otherwise chain a `then` of its
   * own onto every wait (AsyncResult.get): a promise and a reaction per waiting get().
   */
  map?: (meta: TaskMeta) => T;
}

/** A wait for the meta, mapped as `options.map` asks (for a backend that does not map as it settles). */
export function mappedWait<T>(waiting: Promise<TaskMeta>, options: WaitOptions<T>): Promise<T> {
  return options.map ? waiting.then(options.map) : (waiting as Promise<unknown> as Promise<T>);
}

/**
 * The contract of a result backend. spec/conformance runs the same checks against each one.
 *
 * - `storeResult` resolves only when the outcome is durably recorded (worker acks after it).
 * - `getMeta` of an unknown id is `{ status: 'PENDING', result: null, ... }`, never an error.
 * - `waitForReady` resolves with the first meta in a READY state (SUCCESS, FAILURE, REVOKED);
 *   it waits by subscription or reply, never by polling; rejects with ResultTimeoutError after
 *   `timeoutMs`, or with the signal's reason when aborted. It resolves at once when already ready.
 * - `forget` removes the stored outcome; afterwards the id reads PENDING.
 */
export interface ResultBackend {
  /** The backend URL with the password hidden. */
  readonly url: string;
  storeResult(meta: TaskMeta, context: StoreContext): Promise<void>;
  getMeta(taskId: string): Promise<TaskMeta>;
  waitForReady<T = TaskMeta>(taskId: string, options: WaitOptions<T>): Promise<T>;
  forget(taskId: string): Promise<void>;
  /** Closes connections; pending waits reject with ClosedError. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional (backends with a shared store: redis://, memory://). Atomically adds `add` (0 to
   * read) to the number of times this task id started on a redelivered message and resolves
   * with the count, which expires after a day or `resultExpires`, whichever is longer. The
   * worker's poison-message limit (`maxRedeliveries`) keeps it; without it (rpc://) that
   * limit is off.
   */
  countRedeliveredStarts?(taskId: string, add: number): Promise<number>;
  /**
   * Optional (backends with a shared store: redis://, memory://): the claim register of
   * exactly-once effects (lib/app/once.ts). Sets `key` to `value`, expiring after `ttlMs`, only
   * if the key is absent (Redis `SET NX PX`), atomically across clients; resolves null when it
   * did (the caller holds the claim), else with the value held. Without it (rpc://) `once()`
   * refuses with ConfigError.
   */
  claim?(key: string, value: string, ttlMs: number): Promise<string | null>;
  /**
   * Optional, with `claim`: if `key` still holds exactly `expected`, atomically replaces it with
   * `next` (expiring after `ttlMs`), or deletes it when `next` is null; resolves whether it did.
   */
  swapClaim?(key: string, expected: string, next: string | null, ttlMs: number): Promise<boolean>;

  // ---- stores beside the results (redis://, memory://; rpc:// has none) ----
  // Each is optional: a backend without a shared store omits them, and each caller says what it
  // does then (revocations: kept in worker memory only; beat: ConfigError naming `backend`;
  // redelivery counts: the poison-message limit is off). Errors are the backend's own
  // (BackendError naming its URL; ClosedError once closed), never swallowed.

  /**
   * Optional: revocations that outlive the broadcast announcing them (lib/control). Records
   * `taskIds` as revoked until `expiresAt` (ms since the epoch); for an id already recorded the
   * later expiry wins. Atomic; expired records are pruned.
   */
  addRevocations?(taskIds: readonly string[], expiresAt: number): Promise<void>;
  /** Optional, with `addRevocations`: the ids revoked and not expired, with their expiry (ms). */
  listRevocations?(): Promise<Map<string, number>>;
  /**
   * Optional: beat's leader lock (lib/beat), one per `scope` (the app name). Takes the lock for
   * `holder` if free, or renews it if `holder` holds it, for `ttlMs`; resolves whether `holder`
   * leads afterwards. Atomic across clients: at most one holder at a time.
   */
  leadBeat?(scope: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Optional, with `leadBeat`: gives the lock up if `holder` holds it. */
  releaseBeat?(scope: string, holder: string): Promise<void>;
  /** Optional, with `leadBeat`: the due time (ms) of the entry's last recorded run, or null. */
  lastBeatRun?(scope: string, entry: string): Promise<number | null>;
  /**
   * Optional, with `leadBeat`: records the entry's last sent due time, only while `holder`
   * holds the lock (checked in the same atomic step); resolves whether it did.
   */
  recordBeatRun?(scope: string, holder: string, entry: string, due: number): Promise<boolean>;

  /**
   * Called before the app sends a task whose result it wants (not for ignoreResult), so a
   * backend that delivers results by message can make sure its reply queue exists. Returns
   * null once that is done (nothing to wait for: the send path stays synchronous).
   */
  prepareForResults?(): Promise<void> | null;

  // ---- groups and chords (see lib/backends/chord-counter.ts) ----

  /** Stores a group's member ids under the group id (Celery's `GroupResult.save()`). */
  saveGroup(groupId: string, taskIds: readonly string[]): Promise<void>;
  /** The member ids of a saved group, or null when none is saved. */
  restoreGroup(groupId: string): Promise<string[] | null>;
  forgetGroup(groupId: string): Promise<void>;
  /** Records how many header tasks a chord has; set by the producer before any header task is sent. */
  setChordSize(groupId: string, size: number): Promise<void>;
  /**
   * Records one header task's final outcome (SUCCESS or FAILURE) and tells whether the caller
   * must now fire the body. Contract:
   * - atomic across workers, and idempotent per task id: a redelivered or re-run header task
   *   that already reported is not counted twice;
   * - resolves with the header outcomes in header order for exactly one reporting task id —
   *   the one whose report completed the set; a later report by that same task id (its
   *   message was redelivered before the body was surely sent) gets them again, any other null;
   * - the caller fires the body, then calls `chordDone`.
   */
  chordPartReturn(part: ChordPart): Promise<ChordPartOutcome[] | null>;
  /** Deletes the chord's counters once its body was sent (or failed). */
  chordDone(groupId: string): Promise<void>;
}

/** One header task's final outcome, as reported to the chord counter. */
export interface ChordPart {
  groupId: string;
  /** Position in the header; null counts as last (Celery: '+inf'). */
  groupIndex: number | null;
  /**
   * The header size as the chord body's `chord_size` option carries it (celeriac sets it;
   * Python Celery 5.2 does not). Backends that keep the size elsewhere (Redis `.s`) ignore it.
   */
  size: number | null;
  taskId: string;
  state: TaskState;
  /** The return value, or the ExceptionInfo of a failure. */
  result: unknown;
}

export interface ChordPartOutcome {
  taskId: string;
  state: TaskState;
  result: unknown;
}

export interface BackendOptions {
  /** How long stored results live, ms; 0 = forever. Default one day (Celery's result_expires). */
  resultExpiresMs: number;
  logger: import('winston').Logger;
  /**
   * Type of the durable queues a backend keeps in the broker (rpc:// chord counting): the app's
   * `defaultQueueType`. Default 'classic'.
   */
  queueType?: import('../broker/transport.js').QueueType;
  /** This client's stable id: the reply_to of the messages it sends (rpc:// consumes a queue of that name). */
  clientId?: string;
  /** The app's broker connection, for backends that work through the broker (rpc://). */
  brokerTransport?: () => import('../broker/transport.js').Transport;
  /** Options for a broker connection of the backend's own (rpc:// with its own broker URL). */
  transportOptions?: import('../broker/transport.js').TransportOptions;
  /**
   * TLS settings of a TLS URL (rediss://), files already read (lib/util/tls-settings.ts). Unset:
   * resolved from the URL's own query parameters (ssl_cert_reqs, ssl_ca_certs, ...).
   */
  tls?: import('../util/tls-settings.js').TlsConfig | null;
  /** How to reach the store beyond its URL (sentinel://: the primary's name, the sentinels' credentials). */
  connection?: import('./result-backend-options.js').BackendConnectionSettings;
  /**
   * Redis backends: after every write, wait until this many replicas acknowledged it (Redis
   * WAIT); a write they did not acknowledge in time fails with BackendError (not permanent).
   * Null or absent: a write is done when the primary answered.
   */
  waitForReplicas?: import('./result-backend-options.js').WaitForReplicas | null;
}

export function pendingMeta(taskId: string): TaskMeta {
  return { status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}
