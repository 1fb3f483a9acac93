import { ConfigError } from '../errors/errors.js';
import { Signature } from '../canvas/signature.js';
import type { CanvasHost } from '../canvas/canvas-node.js';
import { SentTask } from '../result/sent-task.js';
import type { CallOptions } from '../canvas/call-options.js';
import type { TaskContext } from './task-context.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { parseRate } from './rate-limit.js';
import { keyList } from '../util/key-list.js';
import { newId } from '../util/ids.js';

/** A task's code. `this` is its TaskContext; arrow functions can use currentTask() instead. */
export type TaskFunction<A extends unknown[], R> = (this: TaskContext, ...args: A) => R | Promise<R>;

/** Options fixed when the task is defined; call options given per call override the routing ones. */
export interface TaskOptions {
  queue?: string;
  routingKey?: string;
  exchange?: string;
  priority?: number;
  serializer?: string;
  ignoreResult?: boolean;
  /** Default expiry of every call. */
  expires?: Duration;
  /**
   * Parameter names, in order, for calls with keyword arguments (Python's `add.delay(x=1, y=2)`):
   * each kwarg is put at its name's position. Without argNames, a call with kwargs fails with
   * a TypeError naming the task. Unknown names fail the same way.
   */
  argNames?: string[];
  /**
   * Errors that retry the task automatically: error classes (matched with instanceof) or a
   * predicate. A NonRetryableError is never retried. Default: none.
   */
  autoretryFor?: Array<abstract new (...args: never[]) => unknown> | ((error: unknown) => boolean);
  /** Most retries (automatic and `context.retry()`); null retries forever. Default 3. */
  maxRetries?: number | null;
  /**
   * Exponential backoff for automatic retries: the n-th retry waits factor × 2^n (true = 1 s
   * factor; a Duration is the factor), capped by retryBackoffMax. Default false: defaultRetryDelay.
   */
  retryBackoff?: boolean | Duration;
  /** Cap of the exponential backoff. Default '10m'. */
  retryBackoffMax?: Duration;
  /** Full jitter on the backoff: a random delay in [0, backoff]. Default true. */
  retryJitter?: boolean;
  /** Delay of a retry without backoff or countdown. Default '3m' (Celery's default_retry_delay). */
  defaultRetryDelay?: Duration;
  /** Hard time limit: the task is stopped and recorded FAILURE (TimeLimitExceeded). */
  timeLimit?: Duration;
  /** Soft time limit: the task's signal is aborted with SoftTimeLimitExceeded. */
  softTimeLimit?: Duration;
  /** Most starts per worker: '100/s', '10/m', '1000/h' (or a number per second). */
  rateLimit?: string | number;
}

/** Every TaskOptions key (keyList: the compiler keeps it in step with the interface). */
const TASK_OPTION_KEYS: readonly string[] = keyList<TaskOptions>({
  queue: true,
  routingKey: true,
  exchange: true,
  priority: true,
  serializer: true,
  ignoreResult: true,
  expires: true,
  argNames: true,
  autoretryFor: true,
  maxRetries: true,
  retryBackoff: true,
  retryBackoffMax: true,
  retryJitter: true,
  defaultRetryDelay: true,
  timeLimit: true,
  softTimeLimit: true,
  rateLimit: true,
});

export function checkTaskOptions(name: string, options: TaskOptions): void {
  for (const key of Object.keys(options)) {
    if (!TASK_OPTION_KEYS.includes(key)) {
      throw new ConfigError(key, `unknown option of task ${name}; known: ${TASK_OPTION_KEYS.join(', ')}`);
    }
  }
  if (options.argNames !== undefined && (!Array.isArray(options.argNames) || !options.argNames.every((n) => typeof n === 'string'))) {
    throw new ConfigError('argNames', `task ${name}: expected a list of parameter names`);
  }
  const auto = options.autoretryFor;
  if (auto !== undefined && typeof auto !== 'function' && !(Array.isArray(auto) && auto.every((c) => typeof c === 'function'))) {
    throw new ConfigError('autoretryFor', `task ${name}: expected a list of error classes or a predicate`);
  }
  const max = options.maxRetries;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && max >= 0)) {
    throw new ConfigError('maxRetries', `task ${name}: expected a non-negative integer or null, got ${JSON.stringify(max)}`);
  }
  if (options.retryBackoff !== undefined && typeof options.retryBackoff !== 'boolean') toMilliseconds(options.retryBackoff, 'retryBackoff');
  for (const key of ['retryBackoffMax', 'defaultRetryDelay', 'timeLimit', 'softTimeLimit', 'expires'] as const) {
    if (options[key] !== undefined) toMilliseconds(options[key], key);
  }
  // rateLimit is checked (and parsed, once) by the Task itself: see Task.setRateLimit.
}

/** The leading parts of a tuple: for [a, b] that is [] | [a] | [a, b]. */
export type Prefixes<A extends unknown[]> = A extends [...infer Init, unknown] ? A | Prefixes<Init> : A;
/** The trailing parts of a tuple: for [a, b] that is [a, b] | [b] | []. */
export type Suffixes<A extends unknown[]> = A extends [unknown, ...infer Rest] ? A | Suffixes<Rest> : A;

/**
 * A registered task. `A` is its argument tuple and `R` its (awaited) return type, so
 * `add.delay('a', 2)` does not compile and `add.delay(2, 3).get()` is Promise<number>.
 */
export class Task<A extends unknown[] = unknown[], R = unknown> {
  /** The task's options: its own copy, changed only through setRateLimit and setTimeLimits. */
  readonly options: Readonly<TaskOptions>;
  readonly #options: TaskOptions;
  #startsPerMs: number | undefined;

  /** Throws ConfigError when `options.rateLimit` is not a rate (see setRateLimit). */
  constructor(
    private readonly host: CanvasHost,
    readonly name: string,
    readonly fn: TaskFunction<A, R>,
    options: Readonly<TaskOptions> = {},
  ) {
    this.#options = { ...options };
    this.options = this.#options;
    this.#startsPerMs = options.rateLimit === undefined ? undefined : parseRate(options.rateLimit);
  }

  /**
   * The rate limit as starts per millisecond, or undefined when the task has none. Invariant:
   * it is `options.rateLimit` parsed — once, when the task was made or its rate last changed.
   */
  get startsPerMs(): number | undefined {
    return this.#startsPerMs;
  }

  /**
   * Changes the task's `rateLimit` ('100/s', '10/m', '1000/h' or a number per second; null: no
   * limit). A rate that does not parse throws ConfigError and changes nothing. Workers of this
   * process measure the spacing from the task's last start at the new rate from then on; tell
   * them with `worker.rateLimitsChanged()` so a request held back by the old rate is looked at now.
   */
  setRateLimit(rate: string | number | null): void {
    const startsPerMs = rate === null ? undefined : parseRate(rate);
    if (rate === null) delete this.#options.rateLimit;
    else this.#options.rateLimit = rate;
    this.#startsPerMs = startsPerMs;
  }

  /**
   * Changes the task's `timeLimit` and `softTimeLimit` for runs that start from now on (remote
   * control's time_limit), in seconds; null removes one. A message's own `timelimit` header
   * still wins. Throws ConfigError for a negative or non-finite limit and changes nothing.
   */
  setTimeLimits(hardSeconds: number | null, softSeconds: number | null): void {
    for (const [option, value] of [
      ['timeLimit', hardSeconds],
      ['softTimeLimit', softSeconds],
    ] as const) {
      if (value !== null && !(Number.isFinite(value) && value >= 0)) {
        throw new ConfigError(`task ${this.name}`, `${option} must be a number of seconds of at least 0, got ${value}`);
      }
    }
    for (const [option, value] of [
      ['timeLimit', hardSeconds],
      ['softTimeLimit', softSeconds],
    ] as const) {
      if (value === null || value === 0) delete this.#options[option];
      else this.#options[option] = value * 1000;
    }
  }

  /**
   * Sends the task with positional args. The SentTask resolves (to the AsyncResult) once the
   * broker has confirmed the message; its `get()` waits for the result meanwhile.
   */
  delay(...args: A): SentTask<R> {
    return this.applyAsync(args as Prefixes<A>);
  }

  /** Sends the task with args, kwargs and call options; see delay(). */
  applyAsync(args: Prefixes<A>, kwargs: Record<string, unknown> = {}, options: CallOptions = {}): SentTask<R> {
    // The id is chosen here, so the result can be waited for before the send is confirmed.
    const taskId = (options as CallOptions | null)?.taskId ?? newId();
    const result = this.host.asyncResult<R>(taskId);
    // publishTask checks the option names (and rejects with a ConfigError naming a bad one).
    return new SentTask(result, this.host.publishTask(taskId, this.name, args, kwargs, options));
  }

  /** A partial signature: arguments given later (e.g. the previous result in a chain) come first. */
  s(...args: Suffixes<A>): Signature<R> {
    return new Signature<R>({ task: this.name, args }, this.host);
  }

  /** An immutable signature: runs with exactly these arguments. */
  si(...args: A): Signature<R> {
    return new Signature<R>({ task: this.name, args, immutable: true }, this.host);
  }
}
