import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { createApp, type App } from '../../lib/index.js';
import { queueDeclaration } from '../../lib/app/queues.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, startCli, type RunningProcess } from '../support/processes.js';

/** `celeriac worker` flags from Celery: --pidfile, -f/--logfile, --purge, -X, -I. */
describe('celeriac worker: --pidfile, --logfile, --purge, --exclude-queues, --include', () => {
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-worker-flags-'));
  const queues: string[] = [];
  const started: RunningProcess[] = [];
  const producers: App[] = [];

  const queue = (prefix: string): string => {
    const name = uniqueName(prefix);
    queues.push(name);
    return name;
  };
  const start = (args: string[]): RunningProcess => {
    const process = startCli(['worker', '-A', EXAMPLE_TASKS, '-c', '2', '-l', 'info', ...args], env);
    started.push(process);
    return process;
  };
  /** A producer whose queues exist before any worker starts (declared as the worker declares them). */
  const producer = async (defaultQueue: string, ...others: string[]): Promise<App> => {
    const app = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue, logLevel: 'silent' });
    producers.push(app);
    for (const name of [defaultQueue, ...others]) await app.transport.declareQueue(queueDeclaration(name, app.config));
    return app;
  };
  const stop = async (worker: RunningProcess): Promise<number | string> => {
    worker.child.kill('SIGTERM');
    return worker.exited;
  };
  const waitForFile = async (path: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`no ${pattern} in ${path} within ${timeoutMs} ms; it holds:\n${text}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  after(async () => {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    const admin = createApp({ broker: AMQP_URL, backend: null, logLevel: 'silent' });
    for (const name of queues) await admin.transport.deleteQueue(name).catch(() => undefined);
    await admin.close();
    for (const app of producers) await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--pidfile: written at start, refused beside a live pid, removed on exit, a stale one replaced', async () => {
    const name = `pid-${randomUUID().slice(0, 8)}`;
    const q = queue('pidfile');
    const pidfile = join(dir, '%n.pid');
    const expanded = join(dir, `${name}.pid`);
    const first = start(['-Q', q, '-n', `${name}@%h`, '--pidfile', pidfile]);
    await first.waitFor(/ready: queues/);
    assert.equal(readFileSync(expanded, 'utf8'), `${first.child.pid}\n`);

    const second = start(['-Q', q, '-n', `${name}@%h`, '--pidfile', pidfile]);
    assert.equal(await second.exited, 73);
    assert.match(
      second.output(),
      new RegExp(`Pidfile \\(${expanded.replaceAll('.', '\\.')}\\) already exists[\\s\\S]*pid: ${first.child.pid}`),
    );
    assert.equal(readFileSync(expanded, 'utf8'), `${first.child.pid}\n`, 'the refused worker leaves the live one its file');

    assert.equal(await stop(first), 0);
    assert.equal(existsSync(expanded), false, 'removed on a warm shutdown');

    // A pid no process has any more: that of a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(expanded, `${dead}\n`);
    const third = start(['-Q', q, '-n', `${name}@%h`, '--pidfile', pidfile]);
    await third.waitFor(/ready: queues/);
    assert.match(third.output(), /Stale pidfile exists - Removing it\./);
    assert.equal(readFileSync(expanded, 'utf8'), `${third.child.pid}\n`);
    third.child.kill('SIGINT');
    assert.equal(await third.exited, 0);
    assert.equal(existsSync(expanded), false, 'removed on SIGINT too');
  });

  it('-f/--logfile: lines go to the file, and to a new file at the path after rename + SIGHUP', async () => {
    const q = queue('logfile');
    const logfile = join(dir, 'worker.log');
    const rotated = join(dir, 'worker.log.1');
    const worker = start(['-Q', q, '-f', logfile]);
    await waitForFile(logfile, /ready: queues/);
    assert.doesNotMatch(worker.output(), /ready: queues/, 'nothing on stderr once logging to the file');

    renameSync(logfile, rotated);
    worker.child.kill('SIGHUP');
    await waitForFile(logfile, /log file reopened/);
    const app = await producer(q);
    const result = await app.sendTask<number>('tasks.add', [1, 2]);
    assert.equal(await result.get({ timeout: '20s' }), 3);
    await waitForFile(logfile, new RegExp(`tasks\\.add\\[${result.id}\\] succeeded`));
    assert.doesNotMatch(readFileSync(rotated, 'utf8'), new RegExp(result.id), 'the rotated file gets no new lines');
    assert.match(readFileSync(rotated, 'utf8'), /ready: queues/);
    assert.equal(await stop(worker), 0);
  });

  it('--purge discards the waiting messages before consuming: they never run', async () => {
    const q = queue('purge');
    const app = await producer(q);
    const discarded = await app.sendTask<number>('tasks.add', [2, 2]);
    assert.equal(await app.transport.messageCount(q), 1);
    const worker = start(['-Q', q, '--purge']);
    await worker.waitFor(/purge: Erased 1 message from the queue\./);
    await worker.waitFor(/ready: queues/);
    const later = await app.sendTask<number>('tasks.add', [3, 3]);
    assert.equal(await later.get({ timeout: '20s' }), 6);
    assert.equal(await discarded.state, 'PENDING');
    assert.doesNotMatch(worker.output(), new RegExp(discarded.id));
    assert.equal(await stop(worker), 0);
  });

  it('-X/--exclude-queues: an excluded queue of -Q is not consumed', async () => {
    const kept = queue('kept');
    const excluded = queue('excluded');
    const app = await producer(kept, excluded);
    const waiting = await app.sendTask<number>('tasks.add', [4, 4], {}, { queue: excluded });
    const worker = start(['-Q', `${kept},${excluded}`, '-X', excluded]);
    await worker.waitFor(new RegExp(`ready: queues ${kept.replaceAll('.', '\\.')};`));
    const served = await app.sendTask<number>('tasks.add', [5, 5], {}, { queue: kept });
    assert.equal(await served.get({ timeout: '20s' }), 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await app.transport.messageCount(excluded), 1, "the excluded queue's message is still waiting");
    assert.equal(await waiting.state, 'PENDING');
    assert.equal(await stop(worker), 0);
  });

  it('-I/--include imports a module after -A: its task is registered and runs', async () => {
    const q = queue('include');
    const module = join(dir, 'included-tasks.mjs');
    writeFileSync(
      module,
      `import { app } from ${JSON.stringify(pathToFileURL(EXAMPLE_TASKS).href)};\n` +
        `app.task('spec.included.shout', (text) => String(text).toUpperCase());\n`,
    );
    const worker = start(['-Q', q, '-I', module]);
    await worker.waitFor(/ready: queues/);
    const app = await producer(q);
    const result = await app.sendTask<string>('spec.included.shout', ['hello']);
    assert.equal(await result.get({ timeout: '20s' }), 'HELLO');
    assert.equal(await stop(worker), 0);
  });
});
