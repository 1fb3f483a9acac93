import type { Delivery } from '../broker/transport.js';
import type { RequestOutcome, TaskRequest } from './request.js';

/** Events a Worker emits (for embedding, logging, metrics and specs). */
export interface WorkerEvents {
  'task-received': [request: TaskRequest];
  /** Its code is about to run (a concurrency slot was taken). */
  'task-started': [request: TaskRequest];
  'task-done': [request: TaskRequest, outcome: RequestOutcome];
  /**
   * The run ends in a retry (its RETRY is recorded): emitted before the retry's message is sent,
   * so a listener hears of it before that message's own run (which may start here before the
   * broker confirms the send). Its task-done follows once the retry is sent.
   */
  'task-retrying': [request: TaskRequest, error: unknown];
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
