import { countArgument, MAX_POOL_SIZE, ArgumentError } from './handler-arguments.js';
import { type Handler, type HandlerState, nok, ok } from './handler-state.js';

/**
 * Celery's pool commands for a Node worker, whose pool size is its concurrency (tasks whose
 * code runs at once; the threads pool's most threads). Invariants: concurrency stays an
 * integer from 1 to MAX_POOL_SIZE; once autoscale has set bounds, pool_grow/pool_shrink are
 * refused as Celery refuses them with an autoscaler, and concurrency stays within the bounds.
 * The prefetch does not follow (it stays what the worker started with).
 */
export const POOL_HANDLERS: Record<string, Handler> = {
  pool_grow: (state, args) => {
    const n = countArgument(args, 'n', 1);
    if (state.autoscale) return nok('pool_grow is not supported with autoscale. Adjust autoscale range instead.');
    resize(state, state.worker.concurrency + n);
    return ok('pool will grow');
  },
  pool_shrink: (state, args) => {
    const n = countArgument(args, 'n', 1);
    if (state.autoscale) return nok('pool_shrink is not supported with autoscale. Adjust autoscale range instead.');
    resize(state, state.worker.concurrency - n);
    return ok('pool will shrink');
  },
  /**
   * Celery's autoscale max,min: records the bounds and brings concurrency within them (a Node
   * worker does not scale with load on its own: the bounds are a ceiling and a floor).
   */
  autoscale: (state, args) => {
    const current = state.autoscale;
    const max = countArgument(args, 'max', current?.max ?? state.worker.concurrency);
    const min = countArgument(args, 'min', Math.min(current?.min ?? max, max));
    if (min > max) throw new ArgumentError('min', `an integer of at most max (${max})`, min);
    state.autoscale = { max, min };
    resize(state, Math.min(max, Math.max(min, state.worker.concurrency)));
    return ok(`autoscale now max=${max} min=${min}`);
  },
  // Celery reloads task modules in new pool processes; a Node worker cannot unload ES modules.
  pool_restart: () => nok('pool_restart is not supported by celeriac workers: restart the worker to load new task code'),
};

/** Sets concurrency clamped to 1..MAX_POOL_SIZE (Celery's shrink never goes below one process). */
function resize(state: HandlerState, size: number): void {
  const clamped = Math.max(1, Math.min(MAX_POOL_SIZE, size));
  if (clamped !== state.worker.concurrency) {
    state.worker.setConcurrency(clamped);
    state.worker.logger.info(`remote control: concurrency now ${clamped}`);
  }
}
