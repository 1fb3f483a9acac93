import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createApp, type App, type Worker } from '../../lib/index.js';
import { ControlClient } from '../../lib/control/control-client.js';
import { ControlServer } from '../../lib/control/control-server.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import type { RunningProcess } from '../support/processes.js';
import { deleteQueues, PYTHON, PYTHON_DIR, pythonEnv, startPythonWorker, stopPythonWorker, type InteropQueues } from './python-peer.js';

/** Celery's mailbox both ways: Python's `celery inspect` sees celeriac workers and the reverse. */
describe('interop: remote control (celery.pidbox)', () => {
  const queues: InteropQueues = { py: uniqueName('interop-control.py'), node: uniqueName('interop-control.node') };
  const nodeName = `${uniqueName('node')}@spec`;
  let python: RunningProcess | undefined;
  let pythonName: string;
  let app: App;
  let worker: Worker<App>;
  let server: ControlServer;

  before(async () => {
    app = createApp({ name: 'interop-control', broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queues.node, logLevel: 'silent' });
    app.task('node.add', (x: number, y: number) => x + y);
    worker = app.worker({ concurrency: 1, hostname: nodeName, shutdownTimeout: '2s' });
    server = new ControlServer(worker);
    await server.start();
    [python] = await Promise.all([startPythonWorker(queues), worker.start()]);
    pythonName = /(py-[0-9a-f]{8}@\S+)/.exec(python.output())![1]!;
  });

  after(async () => {
    await stopPythonWorker(python);
    await worker.stop();
    await server.stop();
    await app.close();
    await deleteQueues([queues.py, queues.node]);
  });

  it('celeriac inspect ping lists the Python worker; registered shows its tasks', async () => {
    const client = new ControlClient(app);
    assert.deepEqual(await client.ping({ destination: [pythonName], timeout: '10s' }), [{ [pythonName]: { ok: 'pong' } }]);
    const [registered] = await client.inspect('registered', { destination: [pythonName], timeout: '10s' });
    assert.ok((registered[pythonName] as string[]).includes('tasks.add'));
  });

  it('Python `celery inspect ping` lists the celeriac worker', async () => {
    const out = await pythonCelery(['inspect', 'ping', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { [nodeName]: { ok: 'pong' } });
    const registered = await pythonCelery(['inspect', 'registered', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.deepEqual(JSON.parse(registered.trim().split('\n').pop()!), { [nodeName]: ['node.add'] });
  });

  it('a revoke sent by Python (app.control.revoke) is honoured by the celeriac worker', async () => {
    const out = await pythonCelery(['control', 'revoke', 'interop-revoked-id', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.match(out, /flagged as revoked/);
    assert.ok(server.revoked.has('interop-revoked-id'));
  });
});

async function pythonCelery(args: string[], queues: InteropQueues): Promise<string> {
  const child = spawn(PYTHON, ['-m', 'celery', '-A', 'tasks', ...args], {
    cwd: PYTHON_DIR,
    env: pythonEnv(queues),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | string>((resolve) => child.on('exit', (c, s) => resolve(c ?? s ?? -1)));
  if (code !== 0) throw new Error(`celery ${args.join(' ')} exited with ${code}:\n${stdout}\n${stderr}`);
  return stdout;
}
