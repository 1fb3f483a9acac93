import type { Logger } from 'winston';
import type { AppConfig } from './config.js';
import { currentTask } from './task-context.js';
import type { ResultBackend } from '../backends/result-backend.js';
import { ConfigError, EffectUncertainError } from '../errors/errors.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { newId } from '../util/ids.js';

/** What once() needs of an app (App is one): its result backend, logger and config. */
export interface OnceHost {
  readonly backend: ResultBackend;
  readonly logger: Logger;
  readonly config: Pick<AppConfig, 'resultExpiresMs'>;
}

/**
 * Exactly-once side effects of an at-least-once task: `once(app, 'charge', () => ...)` runs the
 * effect at most once per task id and effect key, however often the task itself runs
 * (redeliveries after a worker died, a send repeated with the same `taskId`, retries).
 * docs/reliability.md#exactly-once-effects says what it does and does not promise.
 *
 * It rests on a claim in the result backend (`claim` / `swapClaim`, Redis `SET NX PX` and a
 * compare-and-set script), under `celeriac-once-<taskId>-<key>`, holding one of:
 *   `run <token> <beat>`  a run holds the claim and is doing the effect; it rewrites `<beat>`
 *                         every ttl/3, so a value unchanged for ttl means its holder died;
 *   `done <json>`         the effect happened; `{"v": value}` is what it returned;
 *   `lost <...>`          at-most-once only: a holder died mid-effect, whether it happened is unknown.
 * Every value lives `keep` (a done marker must outlive any duplicate of its task). Invariant:
 * only the holder of a `run` value (its token) moves it to `done` or deletes it; anyone else
 * changes it only after it stood still for a whole ttl (take-over, or `lost`).
 */

export interface OnceOptions {
  /** Names the effect within its task (a task may have several). Default `'effect'`. */
  key?: string;
  /**
   * How long a claim whose holder stopped renewing it (its worker died or hung) blocks the
   * effect before another run decides that holder is gone. The holder renews every ttl/3; a
   * live worker's event loop must not block this long. Default `'30s'`.
   */
  ttl?: Duration;
  /** How long the done marker, with the effect's value, is kept. Default: `resultExpires`, at least a day. */
  keep?: Duration;
  /**
   * When a run finds the claim abandoned mid-effect (its holder died between starting and
   * finishing the effect): `'at-least-once'` (default) runs the effect again — it may then happen
   * twice; `'at-most-once'` throws EffectUncertainError — it may then never happen.
   */
  guarantee?: 'at-least-once' | 'at-most-once';
  /** Stops waiting for another run's claim. Default: the running task's `signal`. */
  signal?: AbortSignal;
}

type ClaimBackend = ResultBackend & Required<Pick<ResultBackend, 'claim' | 'swapClaim'>>;

const DAY_MS = 86_400_000;
/** Attempts to record the done marker after the effect succeeded (the backend may be reconnecting). */
const DONE_RETRY_DELAYS_MS = [200, 1000, 3000];

/** The claim key of an effect; also a natural idempotency key for your own database (`<taskId>-<key>`). */
export function onceKey(taskId: string, key = 'effect'): string {
  return `celeriac-once-${taskId}-${key}`;
}

/**
 * Runs `effect` unless it already ran for `taskId` (and `options.key`); resolves with its value,
 * or the value it returned the first time (kept as JSON: return plain data). A run that finds
 * another run doing the effect waits for it. When the effect throws, the claim is released and
 * the error rethrown, so a retry can do the effect.
 */
export async function onceForTask<T>(app: OnceHost, taskId: string, effect: () => T | Promise<T>, options: OnceOptions = {}): Promise<T> {
  const backend = claimBackend(app);
  const key = options.key ?? 'effect';
  const ttlMs = toMilliseconds(options.ttl ?? '30s', 'once ttl');
  const keepMs = options.keep === undefined ? Math.max(app.config.resultExpiresMs, DAY_MS) : toMilliseconds(options.keep, 'once keep');
  if (!(ttlMs > 0)) throw new ConfigError('once ttl', 'must be a positive duration');
  if (!(keepMs >= ttlMs)) throw new ConfigError('once keep', 'must be at least ttl');
  const guarantee = options.guarantee ?? 'at-least-once';
  const signal = options.signal ?? currentTask()?.signal;
  const claimKey = onceKey(taskId, key);
  const token = newId();
  let beat = 0;
  const running = (): string => `run ${token} ${beat}`;

  // 1. Take the claim, or learn the effect's fate from whoever holds it.
  const pollMs = Math.min(Math.max(ttlMs / 10, 50), 1000);
  let watched: { value: string; since: number } | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const held = await backend.claim(claimKey, running(), keepMs);
    if (held === null) break;
    if (held.startsWith('done ')) return (JSON.parse(held.slice(5)) as { v: T }).v;
    if (held.startsWith('lost ')) throw new EffectUncertainError(taskId, key);
    if (watched?.value !== held) {
      watched = { value: held, since: Date.now() };
    } else if (Date.now() - watched.since >= ttlMs) {
      // The holder has not renewed for a whole ttl: it died (or hung) during the effect.
      if (guarantee === 'at-most-once') {
        if (await backend.swapClaim(claimKey, held, `lost ${held}`, keepMs)) throw new EffectUncertainError(taskId, key);
      } else if (await backend.swapClaim(claimKey, held, running(), keepMs)) {
        app.logger.warn(
          `once: task ${taskId} takes over effect "${key}" from a run that stopped renewing its claim; the effect may happen twice`,
        );
        break;
      }
      watched = undefined;
      continue;
    }
    await sleep(pollMs, signal);
  }

  // 2. Hold it while the effect runs: renew every ttl/3, one swap at a time. A swap whose reply
  // was lost may or may not have applied, so the next swap tries every value it may have left.
  let values = [running()];
  let lostClaim = false;
  let chain = Promise.resolve();
  const swap = async (next: string | null): Promise<boolean> => {
    for (const expected of values) {
      if (await backend.swapClaim(claimKey, expected, next, keepMs)) {
        values = next === null ? [] : [next];
        return true;
      }
    }
    return false;
  };
  const renew = (): void => {
    chain = chain.then(async () => {
      if (lostClaim) return;
      beat += 1;
      const renewed = running();
      try {
        if (!(await swap(renewed))) {
          lostClaim = true;
          app.logger.warn(
            `once: task ${taskId} lost its claim on effect "${key}" while doing it (renewals came too late); another run may do it too`,
          );
        }
      } catch {
        values.push(renewed);
      }
    });
  };
  const timer = setInterval(renew, Math.max(1, Math.floor(ttlMs / 3)));
  let value: T;
  try {
    value = await effect();
  } catch (error) {
    clearInterval(timer);
    await chain;
    // Released: a retry or redelivery of the task can do the effect. If the release fails, the
    // claim stands still and is treated as abandoned after ttl.
    await swap(null).catch((releaseError: unknown) => {
      app.logger.warn(`once: could not release the claim on effect "${key}" of task ${taskId}: ${(releaseError as Error).message}`);
    });
    throw error;
  }
  clearInterval(timer);
  await chain;

  // 3. Record that it happened. If this fails for good, the claim stands still and a later run
  // treats it as abandoned (at-least-once: the effect happens again).
  let done: string;
  try {
    done = `done ${JSON.stringify({ v: value })}`;
  } catch (error) {
    app.logger.warn(
      `once: the value of effect "${key}" of task ${taskId} is not JSON (${(error as Error).message}); duplicates get undefined`,
    );
    done = 'done {}';
  }
  for (let attempt = 0; ; attempt++) {
    try {
      if (!(await swap(done)) && !lostClaim) {
        app.logger.warn(`once: task ${taskId} lost its claim on effect "${key}" before recording it done; another run may do it too`);
      }
      return value;
    } catch (error) {
      if (attempt >= DONE_RETRY_DELAYS_MS.length) throw error;
      await sleep(DONE_RETRY_DELAYS_MS[attempt]);
    }
  }
}

/**
 * `onceForTask` for the task running now (its `id` from `currentTask()`), under effect `key`:
 * `await once(app, 'charge', () => payments.charge(order))`. Throws outside a task.
 */
export function once<T>(app: OnceHost, key: string, effect: () => T | Promise<T>, options: Omit<OnceOptions, 'key'> = {}): Promise<T> {
  const task = currentTask();
  if (!task) return Promise.reject(new ConfigError('once', 'called outside a running task; use onceForTask(app, taskId, effect) there'));
  return onceForTask(app, task.id, effect, { ...options, key });
}

function claimBackend(app: OnceHost): ClaimBackend {
  const backend = app.backend;
  if (typeof backend.claim !== 'function' || typeof backend.swapClaim !== 'function') {
    throw new ConfigError(
      'backend',
      `once() needs a result backend with a shared store (redis://, memory://) to hold its claims; ${backend.url} has none` +
        ' (rpc:// results are messages to one client). Make the effect idempotent in your own database instead, keyed by the task id' +
        ' (e.g. INSERT ... ON CONFLICT (task_id) DO NOTHING in the transaction that does the effect):' +
        ' see docs/reliability.md#exactly-once-effects',
    );
  }
  return backend as ClaimBackend;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
