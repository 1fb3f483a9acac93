/**
 * The longest delay one Node timer can wait: a longer one (or a non-finite one) is clamped to
 * 1 ms with a TimeoutOverflowWarning, so the callback would run at once.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A pending long timeout; `clear` is idempotent and may be called after it fired. */
export interface LongTimeout {
  clear(): void;
  /** Lets the process exit while only this timeout is pending (as `Timeout.unref`). */
  unref(): LongTimeout;
}

/**
 * setTimeout for any delay: waits in pieces of at most MAX_TIMER_DELAY_MS, so `callback` runs
 * once, no earlier than `delayMs` after the call (30 days means 30 days). A negative or NaN delay
 * means now (next timer turn), as with setTimeout; Infinity means never.
 */
export function setLongTimeout(callback: () => void, delayMs: number): LongTimeout {
  let remaining = Number.isNaN(delayMs) ? 0 : Math.max(0, delayMs);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let referenced = true;
  let cleared = false;
  const wait = (): void => {
    if (remaining === Number.POSITIVE_INFINITY) return;
    const piece = Math.min(remaining, MAX_TIMER_DELAY_MS);
    timer = setTimeout(() => {
      remaining -= piece;
      if (remaining > 0) wait();
      else {
        timer = undefined;
        callback();
      }
    }, piece);
    if (!referenced) timer.unref?.();
  };
  wait();
  const handle: LongTimeout = {
    clear() {
      cleared = true;
      clearTimeout(timer);
      timer = undefined;
      remaining = Number.POSITIVE_INFINITY;
    },
    unref() {
      referenced = false;
      if (!cleared) timer?.unref?.();
      return handle;
    },
  };
  return handle;
}

/** Clears a timeout from setLongTimeout; undefined is ignored (as clearTimeout does). */
export function clearLongTimeout(timeout: LongTimeout | undefined): void {
  timeout?.clear();
}

/** A promise that resolves after `delayMs`, however long. */
export function sleep(delayMs: number): Promise<void> {
  return new Promise((resolve) => setLongTimeout(resolve, delayMs));
}
