import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The compose stack under test (docker/docker-compose.yml + docker/compose.test.yml) as the spec
 * drives it: docker-compose and Debian's docker client against the private daemon whose socket
 * DOCKER_HOST names (docker/test/run.sh starts it and builds the images first).
 */
const run = promisify(execFile);
export const ROOT = new URL('../../../../', import.meta.url).pathname;
export const PROJECT = 'celeriac-ci';
const DOCKER = '/usr/bin/docker';
const FILES = ['-f', 'docker/docker-compose.yml', '-f', 'docker/compose.test.yml'];
/** The folder the containers write the execution ledger to (mounted at /share). */
export const SHARE = process.env.CELERIAC_COMPOSE_SHARE ?? '/tmp/celeriac-compose-share';
export const LEDGER = join(SHARE, 'ledger.jsonl');
/** The task module of the spec, inside the image's /app (dist/spec is mounted). */
export const SPEC_APP = '/app/dist/spec/compose/stack-app.js';

/** Compose's variables (the shell environment the shipped file interpolates), as the spec sets them. */
export const composeEnv: Record<string, string> = {};

/** Runs docker-compose on the stack; resolves with its output (stdout + stderr). */
export async function compose(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout, stderr } = await run('docker-compose', ['-p', PROJECT, ...FILES, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...composeEnv, ...env },
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`docker-compose ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}${stderr}`);
  }
}

export async function docker(args: string[]): Promise<string> {
  const { stdout, stderr } = await run(DOCKER, args, { maxBuffer: 256 * 1024 * 1024 });
  return stdout + stderr;
}

/** Ids of the service's containers (running, or all with `all`), oldest first. */
export async function containers(service: string, all = false): Promise<string[]> {
  const out = await docker([
    'ps',
    ...(all ? ['-a'] : []),
    '-q',
    '--no-trunc',
    '--filter',
    `label=com.docker.compose.project=${PROJECT}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ]);
  return out.split('\n').filter(Boolean).reverse();
}

export interface ContainerState {
  name: string;
  running: boolean;
  exitCode: number;
  restartCount: number;
  startedAt: number;
  finishedAt: number;
}

export async function inspect(id: string): Promise<ContainerState> {
  const format = '{{.Name}}|{{.State.Running}}|{{.State.ExitCode}}|{{.RestartCount}}|{{.State.StartedAt}}|{{.State.FinishedAt}}';
  const [name, running, exitCode, restartCount, startedAt, finishedAt] = (await docker(['inspect', '-f', format, id]))
    .trim()
    .split('|') as [string, string, string, string, string, string];
  return {
    name: name.replace(/^\//, ''),
    running: running === 'true',
    exitCode: Number(exitCode),
    restartCount: Number(restartCount),
    startedAt: Date.parse(startedAt),
    finishedAt: Date.parse(finishedAt),
  };
}

/** Everything the container wrote (stdout and stderr), over all its restarts. */
export function logs(id: string): Promise<string> {
  return docker(['logs', id]);
}

/** Polls `check` every 250 ms until it returns a value other than undefined/false; rejects with `what` after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const READY = /ready: queues/;

/** True once the container's current run (since its last start) logged that it is consuming. */
export async function ready(id: string): Promise<boolean> {
  const format = '{{.State.Running}}|{{.State.StartedAt}}';
  const [running, startedAt] = (await docker(['inspect', '-f', format, id])).trim().split('|') as [string, string];
  return running === 'true' && READY.test(await docker(['logs', '--since', startedAt, id]));
}

/** Resolves with the ids once exactly `count` worker containers run and each is ready. */
export async function workersReady(count: number, timeoutMs = 60_000): Promise<string[]> {
  return until(`${count} worker container(s) ready`, timeoutMs, async () => {
    const ids = await containers('worker');
    if (ids.length !== count) return undefined;
    for (const id of ids) if (!(await ready(id))) return undefined;
    return ids;
  });
}

/** Brings the worker service to `count` running, ready containers (a phase before may have stopped or killed some). */
export async function ensureWorkers(count: number): Promise<string[]> {
  await compose(['up', '-d', '--scale', `worker=${count}`]);
  return workersReady(count);
}

/** Empties the ledger (between phases, while no rel.work runs). */
export function clearLedger(): void {
  writeFileSync(LEDGER, '');
  chmodSync(LEDGER, 0o666); // the containers append to it as uid 1000
}

/** Prints one timing line and returns the phase's result. */
export async function phase<T>(name: string, body: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await body();
  } finally {
    process.stdout.write(`compose timing: ${name.padEnd(34)} ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}
