import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { AMQP_URL, REDIS_URL } from '../support/apps.js';
import { startProcess, type RunningProcess } from '../support/processes.js';
import { findPython } from '../support/python.js';

/**
 * Python Celery as a real peer: a `celery worker` child process on the tasks module in
 * spec/interop/python/, and one-shot producer commands (producer.py) that print JSON.
 * The .py files are not compiled: from dist/spec/interop/ the sources are three levels up.
 */
export const PYTHON_DIR = new URL('../../../spec/interop/python/', import.meta.url).pathname;

/** The interpreter that has Celery (see spec/support/python.ts). */
export const PYTHON = findPython();

export interface InteropQueues {
  /** Consumed by the Python worker; tasks.* are routed here by the Python app. */
  py: string;
  /** Consumed by celeriac workers; node.* are routed here. */
  node: string;
}

/** The environment tasks.py reads. */
export function pythonEnv(queues: InteropQueues, serializer: 'json' | 'msgpack' = 'json'): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CELERY_BROKER_URL: AMQP_URL,
    CELERY_RESULT_BACKEND: REDIS_URL,
    INTEROP_PY_QUEUE: queues.py,
    INTEROP_NODE_QUEUE: queues.node,
    INTEROP_SERIALIZER: serializer,
    PYTHONPATH: PYTHON_DIR,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
}

/** Starts `celery worker` on queues.py and resolves once it logged "ready.". */
export async function startPythonWorker(queues: InteropQueues, serializer: 'json' | 'msgpack' = 'json'): Promise<RunningProcess> {
  const args = [
    '-m',
    'celery',
    '-A',
    'tasks',
    'worker',
    '--pool=threads',
    '-c',
    '2',
    '-Q',
    queues.py,
    '-n',
    `py-${randomUUID().slice(0, 8)}@%h`,
    '--without-gossip',
    '--without-mingle',
    '--without-heartbeat',
    '-l',
    'info',
  ];
  const worker = startProcess(PYTHON, args, { env: pythonEnv(queues, serializer), cwd: PYTHON_DIR });
  await worker.waitFor(/ready\./, 30_000);
  return worker;
}

/** Stops a worker started by startPythonWorker: TERM (warm shutdown), KILL if it lingers. */
export async function stopPythonWorker(worker: RunningProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}

/** Runs `producer.py <command> [...args]` and returns the JSON it printed. */
export async function pythonProducer<T = Record<string, unknown>>(
  queues: InteropQueues,
  command: string,
  args: (string | object)[] = [],
  serializer: 'json' | 'msgpack' = 'json',
): Promise<T> {
  const argv = ['producer.py', command, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))];
  const child = spawn(PYTHON, argv, { cwd: PYTHON_DIR, env: pythonEnv(queues, serializer), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)));
  if (code !== 0) throw new Error(`producer.py ${command} exited with ${code}:\n${stderr}`);
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`producer.py ${command} printed no JSON:\n${stdout}\n${stderr}`);
  }
}

/** What a Python producer reports for one AsyncResult. */
export interface PythonOutcome<R = unknown> {
  id: string;
  state: string;
  result?: R;
  error?: { type: string; module: string; message: string };
  traceback?: string | null;
}

/**
 * Deletes what a spec declared on RabbitMQ: each queue, its dead-letter queue, and the direct
 * exchange named like it (kombu and celeriac both declare one per queue).
 */
export async function deleteQueues(names: readonly string[]): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    for (const name of names) {
      for (const [kind, target] of [
        ['queue', name],
        ['queue', `${name}.dead-letter`],
        ['exchange', name],
      ] as const) {
        // A failed delete closes the channel (e.g. 404 is fine, nothing to delete): use one per call.
        const channel = await connection.createChannel();
        channel.on('error', () => {});
        try {
          if (kind === 'queue') await channel.deleteQueue(target);
          else await channel.deleteExchange(target);
          await channel.close();
        } catch {
          // already gone
        }
      }
    }
  } finally {
    await connection.close();
  }
}

export { REDIS_URL };
