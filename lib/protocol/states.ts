/** Celery's task states, as strings on the wire and in result backends. */
export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'REJECTED' | 'IGNORED';

/** States after which the state never changes again (Celery's READY_STATES). */
export const READY_STATES: ReadonlySet<TaskState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** Ready states that mean the task did not succeed (Celery's PROPAGATE_STATES). */
export const PROPAGATE_STATES: ReadonlySet<TaskState> = new Set(['FAILURE', 'REVOKED']);

export function isReady(state: TaskState): boolean {
  return READY_STATES.has(state);
}
