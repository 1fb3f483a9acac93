import type { Worker } from '../worker/worker.js';

/**
 * What a control handler may reach: the worker and the control server's own records. A leaf of
 * the handler modules (handlers.ts and its siblings import it; it imports none of them).
 */
export interface HandlerState {
  worker: Worker;
  startedAt: number;
  clock: () => number;
  /** Finished tasks by name (Celery's stats `total`). */
  totals: Map<string, number>;
  revoke(taskIds: string[], terminate: boolean): Promise<void>;
  revokedIds(): string[];
  shutdown(): void;
  /** The worker's event sender, when it sends events (`-E`); null otherwise. */
  events: ControlledEvents | null;
}

/** What remote control may do to a worker's event sending (Celery's enable_events/disable_events/heartbeat). */
export interface ControlledEvents {
  /** Whether task events (task-received, -started, ...) are sent. */
  taskEvents: boolean;
  /** Sends one worker-heartbeat now. */
  heartbeat(): void;
}

export type Handler = (state: HandlerState, args: Record<string, unknown>) => unknown;

/** Celery's success reply. */
export const ok = (text: string): { ok: string } => ({ ok: text });

/** Celery's failure reply (`nok`). */
export const nok = (text: string): { error: string } => ({ error: text });
