/**
 * What the beat specs read from beat logs: the due runs each beat says it sent, and the
 * invariants of leadership and hand-over checked over them.
 */
import assert from 'node:assert/strict';

/** One due run a beat sent: its due time (ms since the epoch) and the task id it went under. */
export interface BeatSend {
  due: number;
  id: string;
}

/**
 * The runs of the schedule entry `entry` (task `task`) sent, read from the log lines
 * `Sending due task <entry> (<task>) due <ISO time> id <task id>` of every output given, in order.
 */
export function beatSends(entry: string, task: string, ...outputs: string[]): BeatSend[] {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const line = new RegExp(`Sending due task ${escape(entry)} \\(${escape(task)}\\) due (\\S+) id (\\S+)`, 'g');
  return outputs.flatMap((output) => [...output.matchAll(line)]).map((m) => ({ due: Date.parse(m[1]), id: m[2] }));
}

/**
 * Asserts what beat promises of a one-second schedule, across any hand-over: a due run sent more
 * than once went under the same task id each time, and no due second between the first and the
 * last was skipped. Returns the task id of each due time, and how many sends were re-sends.
 */
export function assertOneIdPerDueNoGap(sent: readonly BeatSend[]): { idByDue: Map<number, string>; resent: number } {
  const idByDue = new Map<number, string>();
  for (const { due, id } of sent) {
    const known = idByDue.get(due);
    assert.ok(known === undefined || known === id, `due ${new Date(due).toISOString()} was sent under two task ids`);
    idByDue.set(due, id);
  }
  const dues = [...idByDue.keys()].sort((a, b) => a - b);
  for (let i = 1; i < dues.length; i++) {
    const gap = `gap between ${new Date(dues[i - 1]).toISOString()} and ${new Date(dues[i]).toISOString()}`;
    assert.equal(dues[i] - dues[i - 1], 1000, gap);
  }
  return { idByDue, resent: sent.length - idByDue.size };
}
