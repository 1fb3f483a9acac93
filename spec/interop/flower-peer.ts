import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { CLI, startProcess, type RunningProcess } from '../support/processes.js';
import { FLOWER_APP } from './flower-app.js';
import { deleteQueues, PYTHON, PYTHON_DIR, pythonEnv, type InteropQueues } from './python-peer.js';

/**
 * Flower 2.0.1, unmodified, as a real monitor of celeriac workers: a `python3 -m flower` child
 * process on the Celery app of spec/interop/python/tasks.py (which declares the node.* tasks, so
 * Flower's endpoints that look a task up by name know them), on a port of its own, with its REST
 * API open (FLOWER_UNAUTHENTICATED_API) and RabbitMQ's management API for its Broker page.
 *
 * Flower is not part of celeriac and is not copied into it: the specs run it from its folder,
 * $CELERIAC_SPEC_FLOWER_DIR when set, else /work/shared/flower-2.0.1 (the machine's shared copy;
 * a clone of the repository may live anywhere, so no path relative to it is relied on), else
 * <repository>/../shared/flower-2.0.1. Its Python dependencies are Debian packages (.ci/run
 * installs them).
 */
export const FLOWER_DIR = findFlowerDir();

/** The management API Flower reads queue lengths from (RabbitMQ's rabbitmq_management plugin, enabled by .ci/run). */
const BROKER_API = process.env.CELERIAC_SPEC_RABBITMQ_API ?? 'http://guest:guest@127.0.0.1:15672/api/';

/** Why the Flower specs cannot run here (they are skipped, saying so), or null when they can. */
export function flowerUnavailable(): string | null {
  if (!FLOWER_DIR) {
    return (
      'Flower 2.0.1 not found: set CELERIAC_SPEC_FLOWER_DIR to a folder holding its `flower` package ' +
      `(looked in ${flowerCandidates().join(', ')})`
    );
  }
  return null;
}

/** Where Flower may be: only $CELERIAC_SPEC_FLOWER_DIR when it is set (it names the one wanted). */
function flowerCandidates(): string[] {
  if (process.env.CELERIAC_SPEC_FLOWER_DIR) return [process.env.CELERIAC_SPEC_FLOWER_DIR];
  const repository = new URL('../../../', import.meta.url).pathname;
  return ['/work/shared/flower-2.0.1', join(repository, '..', 'shared', 'flower-2.0.1')];
}

function findFlowerDir(): string | null {
  return flowerCandidates().find((dir) => existsSync(join(dir, 'flower', '__main__.py'))) ?? null;
}

/** Throws, naming the Debian packages to install, when the interpreter lacks what Flower imports. */
function checkFlowerDependencies(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import tornado, prometheus_client, humanize, pytz'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot run Flower (${probe.stderr.trim().split('\n').pop() ?? 'import failed'}): ` +
        'apt-get install -y python3-tornado python3-prometheus-client python3-humanize python3-tz',
    );
  }
}

/** A port nothing listens on now (the OS picks it; Flower binds it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Flower {
  process: RunningProcess;
  url: string;
  /** Calls Flower at `path` (GET unless `init` says otherwise); resolves with the response. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** GETs `path` and parses it as JSON, failing on any status but 200. */
  json<T = Record<string, unknown>>(path: string): Promise<T>;
  /** The last lines Flower logged, for failure messages. */
  tail(lines?: number): string;
  /** POSTs a form (Flower's control endpoints read form fields), or a JSON body (its task endpoints). */
  post(path: string, body?: Record<string, string | number> | { json: unknown }): Promise<{ status: number; text: string }>;
}

/**
 * Starts Flower on a free port for `queues` (node.* tasks are routed to queues.node when Flower
 * sends them) and resolves once it answers. `--enable_events=False`: Flower would otherwise
 * broadcast enable_events to every worker on the shared broker every 5 s (the specs' workers
 * run with -E, which sends events from the start).
 */
export async function startFlower(queues: InteropQueues): Promise<Flower> {
  checkFlowerDependencies();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '-m',
    'flower',
    '-A',
    'tasks',
    'flower',
    '--address=127.0.0.1',
    `--port=${port}`,
    `--broker_api=${BROKER_API}`,
    // With the worker named (every call here names it) an inspect returns as soon as it replied;
    // without, it waits this long — as Flower's own at start does, on threads the first refresh
    // then waits for.
    '--inspect_timeout=4000',
    '--enable_events=False',
  ];
  const env = { ...pythonEnv(queues), PYTHONPATH: `${FLOWER_DIR}:${PYTHON_DIR}`, FLOWER_UNAUTHENTICATED_API: '1' };
  const running = startProcess(PYTHON, args, { env, cwd: PYTHON_DIR });
  const flower: Flower = {
    process: running,
    url,
    tail: (lines = 30) => running.output().trimEnd().split('\n').slice(-lines).join('\n'),
    fetch: (path, init) => fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(30_000) }),
    async json<T>(path: string): Promise<T> {
      const response = await flower.fetch(path);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${text}\nFlower's log:\n${flower.tail()}`);
      return JSON.parse(text) as T;
    },
    async post(path, body = {}) {
      const init: RequestInit =
        'json' in body
          ? { method: 'POST', body: JSON.stringify(body.json), headers: { 'content-type': 'application/json' } }
          : { method: 'POST', body: new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, String(v)])) };
      const response = await flower.fetch(path, init);
      return { status: response.status, text: await response.text() };
    },
  };
  await running.waitFor(/Visit me at/, 30_000);
  await until(`Flower answering at ${url}`, async () => (await flower.fetch('/healthcheck').catch(() => null))?.ok === true);
  return flower;
}

/**
 * Stops Flower: TERM, KILL if it is still there after 2 s (it waits for its inspect threads
 * before exiting; it keeps nothing the specs need, and its queues are auto-delete).
 */
export async function stopFlower(flower: Flower | undefined): Promise<void> {
  await stopProcess(flower?.process, 2_000);
}

/** A celeriac worker for the Flower specs: `celeriac worker -E` on the flower app, on queues.node. */
export function startFlowerWorker(queues: InteropQueues, extraArgs: string[] = []): { process: RunningProcess; name: string } {
  const name = `flower-${randomUUID().slice(0, 8)}@spec`;
  const worker = startProcess(
    process.execPath,
    [
      CLI,
      'worker',
      '-A',
      FLOWER_APP,
      '-E',
      '-c',
      '2',
      '-Q',
      queues.node,
      '-n',
      name,
      '-l',
      'info',
      '--shutdown-timeout',
      '5s',
      ...extraArgs,
    ],
    {
      env: { ...process.env, CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL, FLOWER_SPEC_QUEUE: queues.node },
    },
  );
  return { process: worker, name };
}

/** TERM, then KILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(running: RunningProcess | undefined, graceMs = 10_000): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), graceMs);
  await running.exited;
  clearTimeout(timer);
}

/** Queues of one Flower spec file: the worker's own, and one more for add/cancel consumer. */
export function flowerQueues(name: string): InteropQueues & { extra: string } {
  return { py: uniqueName(`${name}.py`), node: uniqueName(`${name}.node`), extra: uniqueName(`${name}.extra`) };
}

export async function deleteFlowerQueues(queues: InteropQueues & { extra: string }): Promise<void> {
  await deleteQueues([queues.py, queues.node, queues.extra]);
}

/**
 * Polls `check` until it returns a value other than undefined/false, every 100 ms, for at most
 * `timeoutMs` (a bound for a hung run, not a speed requirement); the last error is in the failure.
 */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
