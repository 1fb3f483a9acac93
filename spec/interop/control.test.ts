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

  it('Python reads the replies of a worker whose Lamport clock is past 127 (an integer header py-amqp reads by its own tags)', async () => {
    server.clock.adjust(1000);
    const out = await pythonCelery(['inspect', 'ping', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { [nodeName]: { ok: 'pong' } });
  });

  it('a revoke sent by Python (app.control.revoke) is honoured by the celeriac worker', async () => {
    const out = await pythonCelery(['control', 'revoke', 'interop-revoked-id', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.match(out, /flagged as revoked/);
    assert.ok(server.revoked.has('interop-revoked-id'));
  });

  it('Python `celery inspect conf` / `query_task` and `control pool_grow` / `time_limit` get Celery-shaped answers', async () => {
    const last = (out: string): unknown => JSON.parse(out.trim().split('\n').pop()!);
    const conf = last(await pythonCelery(['inspect', 'conf', '-d', nodeName, '--timeout', '10', '--json'], queues)) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(conf[nodeName].name, 'interop-control');
    assert.doesNotMatch(JSON.stringify(conf), /guest:guest@/, 'the broker password is hidden');
    const query = await pythonCelery(['inspect', 'query_task', 'no-such-id', '-d', nodeName, '--timeout', '10', '--json'], queues);
    assert.deepEqual(last(query), { [nodeName]: {} });
    const before = worker.concurrency;
    const grow = await pythonCelery(['control', 'pool_grow', '2', '-d', nodeName, '--timeout', '10', '--json'], queues);
    // `celery control --json` prints the list of replies; `inspect --json` the merged object.
    assert.deepEqual(last(grow), [{ [nodeName]: { ok: 'pool will grow' } }]);
    assert.equal(worker.concurrency, before + 2);
    const [stats] = await new ControlClient(app).inspect('stats', { destination: [nodeName], timeout: '10s' });
    assert.equal((stats[nodeName] as { pool: Record<string, number> }).pool['max-concurrency'], before + 2);
    const limit = await pythonCelery(
      ['control', 'time_limit', 'node.add', '30', '60', '-d', nodeName, '--timeout', '10', '--json'],
      queues,
    );
    assert.deepEqual(last(limit), [{ [nodeName]: { ok: 'time limits set successfully' } }]);
    assert.deepEqual([app.tasks.get('node.add')!.options.softTimeLimit, app.tasks.get('node.add')!.options.timeLimit], [30_000, 60_000]);
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
