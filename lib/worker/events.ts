import type { Delivery } from '../broker/transport.js';
import type { RequestOutcome, TaskRequest } from './request.js';

/** Events a Worker emits (for embedding, logging, metrics and specs). */
export interface WorkerEvents {
  'task-received': [request: TaskRequest];
  /** Its code is about to run (a concurrency slot was taken). */
  'task-started': [request: TaskRequest];
  'task-done': [request: TaskRequest, outcome: RequestOutcome];
  'dead-lettered': [delivery: Delivery, reason: string, error: string];
  /** A message that arrived long before its ETA went back into the delay tiers. */
  'task-deferred': [request: TaskRequest, delayMs: number];
  /**
   * With the async pool, a maxTasksPerChild / maxMemoryPerChild limit was reached (`why` says
   * which): the worker stops. `celeriac worker` then exits with status 75 for its supervisor to
   * start a fresh process.
   */
  recycle: [why: string];
}
