/**
 * The runner side of the bench lifecycle (see ipc.ts): forks a bench script, waits for its
 * messages with timeouts, and makes sure it is gone when the scenario ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ParentMessage, ProcessStats, WorkReport } from './ipc.js';

type Awaited<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

/** Set by `--cpu-prof DIR` (run.ts): every forked bench process writes a V8 CPU profile there. */
export const CPU_PROFILE_DIR_ENV = 'CELERIAC_BENCH_CPU_PROF';

export class BenchChild {
  private readonly process: ChildProcess;
  private readonly received = new Map<ChildMessage['type'], ChildMessage>();
  private readonly waiters = new Set<{ type: ChildMessage['type']; resolve: (m: ChildMessage) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private readonly exited: Promise<void>;

  /**
   * @param script file name in this directory, as compiled (e.g. 'raw-consumer.js')
   * @param label  how the child is named in progress lines and errors
   */
  constructor(
    script: string,
    config: object,
    readonly label: string,
    onProgress: (label: string, text: string) => void,
  ) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    // The child's stdout goes to our stderr: stdout carries only the final table.
    const profileDir = process.env[CPU_PROFILE_DIR_ENV];
    const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
    this.process = fork(path, [JSON.stringify(config)], { stdio: ['ignore', 2, 2, 'ipc'], execArgv });
    this.process.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') return onProgress(label, message.text);
      if (message.type === 'error') {
        const error = new Error(`${label}: ${message.message}`);
        if (message.stack) error.stack = `${label}: ${message.stack}`;
        return this.fail(error);
      }
      this.received.set(message.type, message);
      for (const waiter of this.waiters) {
        if (waiter.type === message.type) {
          this.waiters.delete(waiter);
          waiter.resolve(message);
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        // Whatever was still awaited from this child will never come.
        this.fail(new Error(code === 0 ? `${label} exited` : `${label} exited with ${signal ?? `code ${code}`}`));
        resolve();
      });
    });
    this.process.on('error', (error) => this.fail(new Error(`${label}: ${error.message}`)));
  }

  /** The child's OS pid (undefined if the fork failed), for readings taken from outside. */
  get pid(): number | undefined {
    return this.process.pid;
  }

  send(message: ParentMessage): void {
    if (this.process.connected) this.process.send(message);
  }

  /** Resolves with the child's message of `type` (already received or still to come). */
  waitFor<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Awaited<T>> {
    const have = this.received.get(type);
    if (have) return Promise.resolve(have as Awaited<T>);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Awaited<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.label}: no '${type}' within ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (m: ChildMessage) => {
          clearTimeout(timer);
          resolve(m as Awaited<T>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.add(waiter);
    });
  }

  async ready(timeoutMs: number): Promise<Record<string, string>> {
    return (await this.waitFor('ready', timeoutMs)).info ?? {};
  }

  async report(timeoutMs: number): Promise<WorkReport> {
    return (await this.waitFor('finished', timeoutMs)).report;
  }

  /** Sends 'stop', returns the child's stats and waits for it to exit (killing it if it hangs). */
  async stop(timeoutMs: number): Promise<ProcessStats> {
    this.send({ type: 'stop' });
    const { stats } = await this.waitFor('stats', timeoutMs);
    await this.terminate(timeoutMs);
    return stats;
  }

  /** Waits up to `graceMs` for the child to exit, then kills it. Never rejects. */
  async terminate(graceMs = 0): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.exited, grace]);
    clearTimeout(timer);
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGKILL');
      await this.exited;
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }
}

/** Forks a bench child script (file name in this directory, as compiled) with its config; `label` names it in progress and errors. */
export type SpawnChild = (script: string, config: object, label: string) => BenchChild;

/**
 * Runs `body` with a factory for children and makes sure every child forked through it is
 * gone afterwards, whether the body succeeded or not.
 */
export async function withChildren<T>(
  onProgress: (label: string, text: string) => void,
  body: (spawn: SpawnChild) => Promise<T>,
): Promise<T> {
  const children: BenchChild[] = [];
  try {
    return await body((script, config, label) => {
      const child = new BenchChild(script, config, label, onProgress);
      children.push(child);
      return child;
    });
  } finally {
    await Promise.all(children.map((child) => child.terminate(0)));
  }
}
