import { existsSync, readFileSync } from 'node:fs';

/**
 * True when the process `pid` is running: it exists, we may signal it, and it is not a zombie.
 * A detached worker's parent exits at once, so when the worker ends it is reaped by whatever
 * adopted it; where that process does not reap (some container inits), the dead worker stays a
 * zombie, which signal 0 still reaches: Linux's /proc tells it apart (state Z or X). Another
 * user's process (EPERM) counts as not running, as Celery's remove_if_stale counts it: it is
 * not a worker of ours.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // Gone since the signal, or no /proc (not Linux), where signal 0 is all there is to go by.
    return !existsSync('/proc/self/stat');
  }
  // "pid (comm) S ...": the command may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
