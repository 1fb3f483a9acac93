import { spawn, type ChildProcess } from 'node:child_process';

/** The compiled CLI, run with the same node binary as the specs. */
export const CLI = new URL('../../bin/celeriac.js', import.meta.url).pathname;
/** The walkthrough's tasks module, compiled. */
export const EXAMPLE_TASKS = new URL('../../lib/examples/tasks.js', import.meta.url).pathname;

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when `pattern` appears in the output; rejects on exit or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return startProcess(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
}

/**
 * Starts any program, collecting its output; `env` replaces the environment as given. `stdin`:
 * a pipe to write to (`child.stdin`) instead of none; `detached`: in a process group of its own.
 */
export function startProcess(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; stdin?: boolean; detached?: boolean },
): RunningProcess {
  const child = spawn(command, args, {
    env: options.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(text);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text}`));
        }, timeoutMs);
        const onExit = (): void => {
          setImmediate(() => {
            if (!pattern.exec(text)) {
              cleanup();
              reject(new Error(`process exited before ${pattern}; output:\n${text}`));
            }
          });
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.on('exit', onExit);
        check();
      });
    },
  };
}

/** Runs the CLI to completion; resolves with its exit code and output. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)));
  return { code, stdout, stderr };
}
