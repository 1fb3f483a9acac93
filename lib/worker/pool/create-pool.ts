import type { Logger } from 'winston';
import { ConfigError } from '../../errors/errors.js';
import { AsyncPool } from './async-pool.js';
import type { TaskPool } from './pool.js';
import { ThreadPool, type ThreadLimits } from './threads.js';

export interface PoolSettings {
  /** Most jobs at once (the worker's concurrency). */
  size: number;
  /** Module exporting the app; required by the threads pool. */
  appModule: string | undefined;
  logger: Logger;
  /** The threads pool's per-thread limits (the async pool has no child: the worker applies them itself). */
  threadLimits?: ThreadLimits;
}

/** The pool named by the `pool` worker option; ConfigError for unknown names or missing settings. */
export function createPool(kind: string, settings: PoolSettings): TaskPool {
  switch (kind) {
    case 'async':
      return new AsyncPool();
    case 'threads':
      if (!settings.appModule)
        throw new ConfigError('appModule', 'the threads pool needs the module exporting the app (celeriac worker -A sets it)');
      return new ThreadPool(settings.appModule, settings.size, settings.logger, settings.threadLimits);
    default:
      throw new ConfigError('pool', `unknown pool ${JSON.stringify(kind)}; known: async, threads`);
  }
}
