import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../bin/process-alive.js';

export { processAlive };

/** Resolves once `condition` holds, checking every 100 ms; rejects after `timeoutMs` with `what` and `detail()`. */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 30_000,
  detail: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms${detail() ? `:\n${detail()}` : ''}`);
    await sleep(100);
  }
}

/** The file's text, or '' when there is none. */
export function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** The pid in a pidfile, or null. */
export function pidIn(path: string): number | null {
  const text = readText(path).trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** The session id of a process (Linux /proc): a detached process leads its own session. */
export function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/** The real user id of a process (Linux /proc). */
export function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** Whether the process works in `dir` or below (Linux /proc): how a spec knows a pid is one it started. */
function worksIn(pid: number, dirs: readonly string[]): boolean {
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return dirs.some((dir) => cwd === dir || cwd.startsWith(`${dir}/`));
  } catch {
    return false;
  }
}

/**
 * Detached workers leave the spec's process group, so nothing stops them with it: a spec starts
 * them with a temporary working directory of its own (or --workdir there), and its `after` hook
 * calls this with those directories. It SIGKILLs every running process named by a pidfile under
 * them or in `pids` whose working directory is one of them (so a pid reused meanwhile by
 * someone else's process is left alone).
 */
export function killDaemons(pids: Iterable<number>, dirs: readonly string[]): void {
  const all = new Set(pids);
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (!entry.endsWith('.pid')) continue;
      const pid = pidIn(join(dir, entry));
      if (pid !== null) all.add(pid);
    }
  }
  for (const pid of all) {
    if (pid === process.pid || !processAlive(pid) || !worksIn(pid, dirs)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** A finished command: its exit code (or signal name) and its output. */
export interface Finished {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** A command started by startIn. */
export interface Started {
  child: ChildProcess;
  /** Its stdout and stderr so far. */
  output(): string;
  finished: Promise<Finished>;
}

/**
 * Starts `command args` in `cwd`, with `env` over this process's environment (or `env` alone,
 * `inheritEnv: false`), in a process group of its own with `detached`. Its stdout and
 * stderr go to files (read by output() and when it has finished), so a process it leaves
 * running holds no pipe of the spec's open.
 */
export function startIn(
  cwd: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: { inheritEnv?: boolean; detached?: boolean } = {},
): Started {
  const base = join(cwd, `.out-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const [stdout, stderr] = [`${base}.1`, `${base}.2`];
  const fds = [openSync(stdout, 'w'), openSync(stderr, 'w')] as const;
  const child = spawn(command, args, {
    cwd,
    env: options.inheritEnv === false ? env : { ...process.env, ...env },
    stdio: ['ignore', fds[0], fds[1]],
    detached: options.detached ?? false,
  });
  for (const fd of fds) closeSync(fd);
  const finished = new Promise<Finished>((resolve) =>
    child.on('exit', (code, signal) => {
      const result = { code: code ?? signal ?? -1, stdout: readText(stdout), stderr: readText(stderr) };
      rmSync(stdout, { force: true });
      rmSync(stderr, { force: true });
      resolve(result);
    }),
  );
  return { child, output: () => readText(stdout) + readText(stderr), finished };
}

/** Runs `command args` in `cwd` to completion (see startIn). */
export function runIn(cwd: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return startIn(cwd, command, args, env).finished;
}
