import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { processAlive } from './process-alive.js';

/**
 * A pid file as Celery's (celery/platforms.py Pidfile): created exclusively, holding "<pid>\n".
 * A file naming a live process refuses the start; a stale one (dead pid, unreadable content) is
 * removed with a notice on stderr and replaced.
 */
export class PidFileLocked extends Error {
  constructor(
    readonly path: string,
    readonly pid: number,
  ) {
    super(`ERROR: Pidfile (${path}) already exists.\nSeems we're already running? (pid: ${pid})`);
  }
}

/** The pid the file names; null when it is empty or not a number; 'missing' when there is no file. */
export function readPid(path: string): number | null | 'missing' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) && Number(trimmed) > 0 ? Number(trimmed) : null;
}

/** The pid in the file at `path` when that process is running (see processAlive), else null. */
export function livePid(path: string): number | null {
  const pid = readPid(path);
  return typeof pid === 'number' && processAlive(pid) ? pid : null;
}

/**
 * Writes this process's pid to `path`, after removing a stale file there. Throws PidFileLocked if
 * the file names a live process other than this one. Returns a function that removes the file
 * (once; harmless if it is already gone).
 */
export function createPidFile(path: string): () => void {
  const existing = readPid(path);
  if (existing !== 'missing') {
    if (existing !== null && existing !== process.pid && processAlive(existing)) throw new PidFileLocked(path, existing);
    process.stderr.write(existing === null ? 'Broken pidfile found - Removing it.\n' : 'Stale pidfile exists - Removing it.\n');
    removeQuietly(path);
  }
  // O_EXCL: of two workers starting at once beside the same file, one fails here.
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    // Only our own file: another process may have replaced it meanwhile.
    if (readPid(path) === process.pid) removeQuietly(path);
  };
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EACCES') throw error;
  }
}
