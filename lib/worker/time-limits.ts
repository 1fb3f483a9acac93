import type { TaskOptions } from '../app/task.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded } from '../errors/errors.js';
import type { TaskHeaders } from '../protocol/task-message.js';
import { toMilliseconds } from '../util/duration.js';
import { clearLongTimeout, setLongTimeout } from '../util/long-timeout.js';

/** Limits of one run, in ms; null = none. */
export interface TimeLimits {
  hardMs: number | null;
  softMs: number | null;
}

/** No limits: a run waits as long as its code takes. */
export const NO_TIME_LIMITS: TimeLimits = { hardMs: null, softMs: null };

/**
 * The limits of a run, field by field, as Celery picks them: the message's `timelimit` header
 * ([hard, soft] in seconds, as Celery and celeriac producers send it), else the task's options,
 * else the worker's defaults (`celeriac worker --time-limit/--soft-time-limit`, Celery's pool
 * timeouts).
 */
export function timeLimitsOf(headers: TaskHeaders, options: Readonly<TaskOptions>, defaults: TimeLimits = NO_TIME_LIMITS): TimeLimits {
  const [hard, soft] = headers.timelimit;
  const ms = (seconds: number | null, own: TaskOptions['timeLimit'], option: string, fallback: number | null): number | null =>
    seconds !== null && seconds > 0 ? seconds * 1000 : own !== undefined ? toMilliseconds(own, option) : fallback;
  return {
    hardMs: ms(hard, options.timeLimit, 'timeLimit', defaults.hardMs),
    softMs: ms(soft, options.softTimeLimit, 'softTimeLimit', defaults.softMs),
  };
}

/**
 * Settles like `run`, within the limits. At the soft limit, `owner.abort` is aborted with a
 * SoftTimeLimitExceeded (the task sees it as `signal.reason` and may still finish); it is read
 * only when a limit fires, so a run without limits makes no controller. At the hard limit the
 * returned promise rejects with TimeLimitExceeded at once — whatever `run` does later is
 * ignored — and `onHardLimit` is called so a pool that can stop the work does (the threads
 * pool terminates the thread). Limits of any length wait their full time (Node's timers alone
 * would fire at once past ~24.8 days). Timers never outlive the run.
 */
export function withTimeLimits<T>(
  run: Promise<T>,
  limits: TimeLimits,
  owner: { readonly abort: AbortController },
  onHardLimit?: () => void,
): Promise<T> {
  if (limits.hardMs === null && limits.softMs === null) return run;
  return new Promise<T>((resolve, reject) => {
    const soft =
      limits.softMs === null
        ? undefined
        : setLongTimeout(() => {
            const { abort } = owner;
            if (!abort.signal.aborted) abort.abort(new SoftTimeLimitExceeded(limits.softMs!));
          }, limits.softMs);
    const hard =
      limits.hardMs === null
        ? undefined
        : setLongTimeout(() => {
            clearLongTimeout(soft);
            const error = new TimeLimitExceeded(limits.hardMs!);
            const { abort } = owner;
            if (!abort.signal.aborted) abort.abort(error);
            onHardLimit?.();
            reject(error);
          }, limits.hardMs);
    run.then(resolve, reject).finally(() => {
      clearLongTimeout(soft);
      clearLongTimeout(hard);
    });
  });
}
