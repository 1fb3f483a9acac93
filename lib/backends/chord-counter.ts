import { stringifyJson } from '../protocol/serializers.js';
import type { TaskState } from '../protocol/states.js';
import type { ChordPart, ChordPartOutcome } from './result-backend.js';

/**
 * Chord counting in Celery's Redis layout, shared by every key-value backend.
 *
 * Keys (Celery's, so Python workers and producers join the same chord):
 * - `celery-taskset-meta-<gid>.s`: the header size, set by the producer before sending;
 * - `.t`: extra parts added later (Celery's `add_to_chord`), usually absent;
 * - `.j`: a sorted set of `[1, task_id, state, result]` JSON members scored by group_index.
 * celeriac adds two keys of its own, which Python ignores:
 * - `.ids`: a hash of task ids that already reported, so a redelivered header task is not
 *   counted twice even when its re-run result differs;
 * - `.claim`: the task id whose report completed the set — the one that fires the body.
 *
 * Invariant of `join` (one atomic step in every backend): a member is added only for a task id
 * not in `.ids`; when the member count equals size + t, `.claim` is set if absent, and the
 * members are returned to the caller iff `.claim` holds the caller's task id.
 */
export const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

export interface ChordKeys {
  readonly joined: string;
  readonly extra: string;
  readonly size: string;
  readonly ids: string;
  readonly claim: string;
}

export function groupKey(groupId: string): string {
  return GROUP_KEY_PREFIX + groupId;
}

export function chordKeys(groupId: string): ChordKeys {
  const base = groupKey(groupId);
  return { joined: `${base}.j`, extra: `${base}.t`, size: `${base}.s`, ids: `${base}.ids`, claim: `${base}.claim` };
}

/** What a backend's atomic join step needs. */
export interface ChordJoin {
  readonly keys: ChordKeys;
  readonly taskId: string;
  readonly member: string;
  /** The sorted-set score: the group index, or +Infinity when unknown. */
  readonly score: number;
  /** Expiry of every chord key, ms; 0 = none. */
  readonly ttlMs: number;
}

export function chordJoin(part: ChordPart, ttlMs: number): ChordJoin {
  return {
    keys: chordKeys(part.groupId),
    taskId: part.taskId,
    member: stringifyJson([1, part.taskId, part.state, part.result]),
    score: part.groupIndex ?? Number.POSITIVE_INFINITY,
    ttlMs,
  };
}

/** Members in score order (as ZRANGE returns them) → outcomes in header order. */
export function decodeChordMembers(members: readonly string[]): ChordPartOutcome[] {
  return members.map((raw) => {
    const parsed = JSON.parse(raw) as [number, string, TaskState, unknown];
    if (!Array.isArray(parsed) || parsed.length < 4) throw new Error(`not a chord member: ${raw.slice(0, 100)}`);
    return { taskId: parsed[1], state: parsed[2], result: parsed[3] };
  });
}

/**
 * Celery's group record: `{"result": [[gid, null], [[[id, null], null], ...]]}`
 * (GroupResult.as_tuple()).
 */
export function encodeGroup(groupId: string, taskIds: readonly string[]): string {
  return stringifyJson({ result: [[groupId, null], taskIds.map((id) => [[id, null], null])] });
}

export function decodeGroup(raw: string): string[] {
  const value = JSON.parse(raw) as { result?: [unknown, unknown[]] };
  const members = value.result?.[1];
  if (!Array.isArray(members)) throw new Error('not a saved group');
  return members.map((member) => {
    const id = (member as [[string, unknown], unknown])[0]?.[0];
    if (typeof id !== 'string') throw new Error('saved group member without an id');
    return id;
  });
}
