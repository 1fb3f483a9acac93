import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../lib/index.js';
import { detachedChildArgv } from './detach-argv.js';
import { nodeFormat } from './node-format.js';
import { livePid, PidFileLocked } from './pidfile.js';
import { celeriacCommand } from './self-command.js';

/** Set in the environment of a detached child: it tells its parent once its pidfile is written. */
const CHILD_ENV = 'CELERIAC_DETACHED_CHILD';
/** How long the parent waits for the child's pidfile: loading an app takes seconds, not minutes. */
const START_TIMEOUT_MS = 60_000;
/** How much of the child's log the parent shows when the child fails. */
const LOG_TAIL_BYTES = 8192;

export interface DetachRequest {
  /** What is starting, for messages: "worker w1@host", "beat". */
  what: string;
  /** The command line as typed, without the program: process.argv.slice(2). */
  argv: readonly string[];
  /** The pid and log files the child uses, expanded (relative to the working directory). */
  pidfile: string;
  logfile: string;
  /** The patterns to hand the child where its command line names no --pidfile/--logfile. */
  defaults: { pidfile?: string; logfile?: string };
}

/**
 * --detach, Celery's `detached()` on Node: starts the same command again without -D, in a session
 * of its own (no controlling terminal; a hang-up or Ctrl-C in this terminal does not reach it),
 * with stdin from /dev/null and stdout/stderr appended to the log file, and waits. Returns the
 * exit status for this process: 0 once the child reports that its pidfile is written; the
 * child's status (1 if a signal ended it) if it exits before, after printing what it wrote to
 * the log file meanwhile; 73 (Celery's EX_CANTCREAT) without starting anything when the pidfile
 * names a running process; 1 if the child has written no pidfile after a minute (it is killed).
 * The log file is opened here first, so an unwritable one fails at once (Celery touches it).
 */
export async function detach(request: DetachRequest): Promise<number> {
  const running = livePid(request.pidfile);
  if (running !== null) {
    process.stderr.write(`${new PidFileLocked(request.pidfile, running).message}\n`);
    return 73;
  }
  let log: number;
  try {
    log = openSync(request.logfile, 'a');
  } catch (error) {
    throw new ConfigError('--logfile', `cannot open ${request.logfile}: ${(error as Error).message}`);
  }
  const offset = fstatSync(log).size;
  const { command, args } = celeriacCommand(detachedChildArgv(request.argv, request.defaults));
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  closeSync(log);
  const outcome = await new Promise<{ started: true } | { started: false; why: string; status: number }>((settle) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle({ started: false, why: `has written no pidfile ${request.pidfile} after ${START_TIMEOUT_MS / 1000} s: killed it`, status: 1 });
    }, START_TIMEOUT_MS);
    child.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { celeriacDetached?: unknown }).celeriacDetached === 'started') {
        clearTimeout(timer);
        settle({ started: true });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const how = code === null ? `was ended by ${signal}` : `exited with status ${code}`;
      settle({ started: false, why: `${how} before writing its pidfile ${request.pidfile}`, status: code || 1 });
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      settle({ started: false, why: `could not be started: ${error.message}`, status: 1 });
    });
  });
  if (outcome.started) {
    if (child.connected) child.disconnect();
    child.unref();
    return 0;
  }
  const tail = logTail(request.logfile, offset);
  process.stderr.write(
    `celeriac: ${request.what} (pid ${child.pid}) ${outcome.why}; ` +
      (tail ? `it wrote to ${resolve(request.logfile)}:\n${tail}${tail.endsWith('\n') ? '' : '\n'}` : `see ${resolve(request.logfile)}\n`),
  );
  return outcome.status;
}

/**
 * --detach for a command whose --pidfile/--logfile are `args`' (patterns of node `nodeName`),
 * `defaults` where it names none: see detach().
 */
export function detachCommand(
  args: { pidfile?: string | undefined; logfile?: string | undefined },
  what: string,
  nodeName: string,
  defaults: { pidfile: string; logfile: string },
): Promise<number> {
  return detach({
    what,
    argv: process.argv.slice(2),
    pidfile: nodeFormat(args.pidfile ?? defaults.pidfile, nodeName),
    logfile: nodeFormat(args.logfile ?? defaults.logfile, nodeName),
    defaults: {
      ...(args.pidfile === undefined ? { pidfile: defaults.pidfile } : {}),
      ...(args.logfile === undefined ? { logfile: defaults.logfile } : {}),
    },
  });
}

/** What was appended to the file at `path` after `offset` (its last LOG_TAIL_BYTES), or '' if nothing or unreadable. */
function logTail(path: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(offset, size - LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    const read = readSync(fd, buffer, 0, buffer.length, start);
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * In a child started by --detach (and only there): tells the waiting parent that the pidfile
 * is written, then closes the channel to it. Called right after the pidfile is created; the
 * environment marker is removed so that nothing this process starts inherits it.
 */
export function reportDetachedStart(): void {
  if (process.env[CHILD_ENV] !== '1') return;
  delete process.env[CHILD_ENV];
  process.send?.({ celeriacDetached: 'started' }, undefined, undefined, () => process.disconnect());
}
