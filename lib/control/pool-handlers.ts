import { countArgument, MAX_POOL_SIZE, ArgumentError } from './handler-arguments.js';
import { type Handler, type HandlerState, nok, ok } from './handler-state.js';

/**
 * Celery's pool commands for a Node worker, whose pool size is its concurrency (tasks whose
 * code runs at once; the threads pool's most threads). Invariants: pool_grow/pool_shrink keep
 * concurrency an integer from 1 to MAX_POOL_SIZE and the prefetch follows (concurrency ×
 * prefetch multiplier, or the pool's rule: pool-defaults.ts), as Celery's; while an autoscaler drives the concurrency they are refused
 * as Celery refuses them, and the autoscale command changes its bounds instead.
 */
export const POOL_HANDLERS: Record<string, Handler> = {
  pool_grow: async (state, args) => {
    const n = countArgument(args, 'n', 1);
    if (state.worker.capacity.autoscaler) return nok('pool_grow is not supported with autoscale. Adjust autoscale range instead.');
    await resize(state, state.worker.concurrency + n);
    return ok('pool will grow');
  },
  pool_shrink: async (state, args) => {
    const n = countArgument(args, 'n', 1);
    if (state.worker.capacity.autoscaler) return nok('pool_shrink is not supported with autoscale. Adjust autoscale range instead.');
    await resize(state, state.worker.concurrency - n);
    return ok('pool will shrink');
  },
  /**
   * Celery's autoscale max,min: new bounds for the worker's autoscaler, which then makes the
   * concurrency follow the load (autoscaler.ts); the prefetch becomes that of max (max × multiplier). A
   * worker started without --autoscale starts autoscaling here (Celery's answers "Autoscale not
   * enabled" instead). An absent max keeps the current one; an absent min keeps the current one
   * when it is at most max.
   */
  autoscale: async (state, args) => {
    const { capacity } = state.worker;
    const current = capacity.autoscaler;
    const max = countArgument(args, 'max', current?.max ?? state.worker.concurrency);
    const min = countArgument(args, 'min', Math.min(current?.min ?? max, max), 0);
    if (min > max) throw new ArgumentError('min', `an integer of at most max (${max})`, min);
    await capacity.autoscale(max, min);
    state.worker.logger.info(`remote control: autoscale now max=${max} min=${min}`);
    return ok(`autoscale now max=${max} min=${min}`);
  },
  // Celery reloads task modules in new pool processes; a Node worker cannot unload ES modules.
  pool_restart: () => nok('pool_restart is not supported by celeriac workers: restart the worker to load new task code'),
};

/** Sets concurrency clamped to 1..MAX_POOL_SIZE (Celery's shrink never goes below one process); the prefetch follows. */
async function resize(state: HandlerState, size: number): Promise<void> {
  const clamped = Math.max(1, Math.min(MAX_POOL_SIZE, size));
  if (clamped !== state.worker.concurrency) {
    await state.worker.setConcurrency(clamped);
    state.worker.logger.info(`remote control: concurrency now ${clamped}, prefetch ${state.worker.prefetch}`);
  }
}
