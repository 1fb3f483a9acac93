/**
 * CPU time and parent of a process as Linux reports it (/proc/<pid>/stat), read from outside:
 * for the services the bench measures beside its own processes (the RabbitMQ node, Redis) and
 * for programs a bench child drives (a Python Celery worker and its pool). Linux only.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  ppid: number;
  /** utime: user CPU so far, ms. */
  userMs: number;
  /** stime: system CPU so far, ms. */
  systemMs: number;
}

/** The pids of every process on this machine (empty without /proc). */
export function listPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number);
  } catch {
    return [];
  }
}

/** `pid`'s stat; null when the process is gone or cannot be read. */
export function readProcStat(pid: number): ProcStat | null {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (index: number): number => (Number(fields[index]) * 1000) / TICKS_PER_SECOND;
    return { ppid: Number(fields[1]), userMs: ms(11), systemMs: ms(12) };
  } catch {
    return null;
  }
}
