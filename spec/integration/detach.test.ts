import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { createApp, type App } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { killDaemons, pidIn, processAlive, readText, runIn, sessionOf, uidOf, waitUntil, type Finished } from '../support/daemons.js';
import { CLI } from '../support/processes.js';

const MULTI_APP = new URL('../support/multi-app.js', import.meta.url).pathname;

/** Why the --uid spec cannot run here: it needs root, and a checkout that user nobody can load the app from. */
function nobodySkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  const load = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(MULTI_APP).href)})`],
    {
      uid: 65534,
      gid: 65534,
      timeout: 60_000,
      env: { ...process.env, CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL },
    },
  );
  return load.status === 0 ? false : `user nobody (65534) cannot load ${MULTI_APP} from this checkout`;
}

/** `celeriac worker -D` and `celeriac beat -D`: Celery's --detach, waiting for the pidfile. */
describe('celeriac worker/beat -D (--detach)', () => {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-detach-'));
  const queue = uniqueName('detach');
  const env = {
    CELERIAC_BROKER_URL: AMQP_URL,
    CELERIAC_RESULT_BACKEND: REDIS_URL,
    MULTI_SPEC_QUEUE: queue,
    MULTI_SPEC_NAME: uniqueName('detach-app'),
  };
  const seen: number[] = [];
  let producer: App | undefined;

  const celeriac = (cwd: string, args: string[]): Promise<Finished> => runIn(cwd, process.execPath, [CLI, ...args], env);
  /** The pid in `pidfile`, recorded for the clean-up; fails when there is none. */
  const daemonPid = (pidfile: string): number => {
    const pid = pidIn(pidfile);
    assert.ok(pid !== null, `no pid in ${pidfile}`);
    seen.push(pid);
    return pid;
  };
  const stop = async (pid: number, pidfile: string): Promise<void> => {
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !processAlive(pid), `process ${pid} gone after SIGTERM`);
    assert.equal(existsSync(pidfile), false, 'the pidfile is removed on exit');
  };

  after(async () => {
    killDaemons(seen, [dir]);
    const admin = createApp({ broker: AMQP_URL, backend: null, logLevel: 'silent' });
    await admin.transport.deleteQueue(queue).catch(() => undefined);
    await admin.close();
    await producer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('worker -D exits 0 once the pidfile is written; the worker leads a session of its own, logs to %n%I.log and runs tasks', async () => {
    const name = `detach-${id}`;
    const started = await celeriac(dir, ['worker', '-A', MULTI_APP, '-D', '-n', `${name}@%h`, '-c', '1']);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.stdout + started.stderr, '', 'a detaching parent prints nothing when all is well');
    const pidfile = join(dir, `${name}.pid`);
    const logfile = join(dir, `${name}.log`);
    const pid = daemonPid(pidfile);
    assert.ok(processAlive(pid));
    assert.equal(sessionOf(pid), pid, 'the worker leads its own session (no controlling terminal)');
    await waitUntil(
      () => /ready: queues/.test(readText(logfile)),
      'ready in the log file',
      30_000,
      () => readText(logfile),
    );

    producer = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, logLevel: 'silent' });
    const result = await producer.sendTask<number>('spec.multi.add', [1, 2]);
    assert.equal(await result.get({ timeout: '20s' }), 3);

    const again = await celeriac(dir, ['worker', '-A', MULTI_APP, '-D', '-n', `${name}@%h`, '-c', '1']);
    assert.equal(again.code, 73, 'Celery’s EX_CANTCREAT beside a live pid');
    assert.match(
      again.stderr,
      new RegExp(`Pidfile \\(${name}\\.pid\\) already exists\\.\\nSeems we're already running\\? \\(pid: ${pid}\\)`),
    );
    assert.equal(pidIn(pidfile), pid, 'the running worker keeps its pidfile');

    await stop(pid, pidfile);
    assert.match(readText(logfile), /SIGTERM received: warm shutdown[\s\S]*stopped/);
  });

  it('--workdir, relative --pidfile/--logfile patterns and --umask: the files are in the directory, with the mask', async () => {
    const name = `workdir-${id}`;
    const work = join(dir, 'work');
    mkdirSync(work);
    const started = await celeriac(dir, [
      'worker',
      '-A',
      MULTI_APP,
      '--detach',
      '--workdir',
      'work',
      '-n',
      `${name}@%h`,
      '--pidfile',
      'run-%n.pid',
      '-f',
      '%n-%i.log',
      '--umask',
      '0027',
    ]);
    assert.equal(started.code, 0, started.stderr);
    const pidfile = join(work, `run-${name}.pid`);
    const logfile = join(work, `${name}-0.log`);
    const pid = daemonPid(pidfile);
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), work);
    assert.equal(statSync(pidfile).mode & 0o777, 0o640);
    assert.equal(statSync(logfile).mode & 0o777, 0o640);
    await waitUntil(
      () => /ready: queues/.test(readText(logfile)),
      'ready in the log file',
      30_000,
      () => readText(logfile),
    );
    await stop(pid, pidfile);
  });

  it('a worker that cannot start: the parent prints its error, exits with its status, and there is no pidfile', async () => {
    const name = `broken-${id}`;
    const failed = await celeriac(dir, ['worker', '-A', './no-such-tasks.js', '-D', '-n', `${name}@%h`]);
    assert.equal(failed.code, 2);
    assert.match(
      failed.stderr,
      new RegExp(`worker ${name}@\\S+ \\(pid \\d+\\) exited with status 2 before writing its pidfile ${name}\\.pid`),
    );
    assert.match(failed.stderr, /--app: cannot load \.\/no-such-tasks\.js/);
    assert.equal(existsSync(join(dir, `${name}.pid`)), false);
    assert.match(readText(join(dir, `${name}.log`)), /cannot load/, 'the error is in the log file too');

    const badUser = await celeriac(dir, ['worker', '-A', MULTI_APP, '-D', '-n', `${name}@%h`, '--uid', `no-such-user-${id}`]);
    assert.equal(badUser.code, 2);
    assert.match(badUser.stderr, /--uid: no such user: no-such-user-/);
  });

  it('beat -D: beat.pid and beat.log in the working directory; a second one beside it is refused; SIGTERM stops it', async () => {
    const work = join(dir, 'beat');
    mkdirSync(work);
    const started = await celeriac(dir, ['beat', '-A', MULTI_APP, '-D', '--workdir', work, '--lock-ttl', '2s']);
    assert.equal(started.code, 0, started.stderr);
    const pidfile = join(work, 'beat.pid');
    const logfile = join(work, 'beat.log');
    const pid = daemonPid(pidfile);
    assert.equal(sessionOf(pid), pid);
    await waitUntil(
      () => /Sending due task tick/.test(readText(logfile)),
      'a due task sent',
      30_000,
      () => readText(logfile),
    );

    const again = await celeriac(dir, ['beat', '-A', MULTI_APP, '-D', '--workdir', work]);
    assert.equal(again.code, 73);
    assert.match(again.stderr, /beat\.pid\) already exists/);
    await stop(pid, pidfile);
    assert.match(readText(logfile), /SIGTERM received: beat stopping/);
  });

  it('--uid (as root): the detached worker and the files it makes belong to that user', { skip: nobodySkip() }, async () => {
    const name = `nobody-${id}`;
    const work = join(dir, 'nobody');
    mkdirSync(work);
    chmodSync(dir, 0o755);
    chmodSync(work, 0o777);
    const started = await celeriac(work, ['worker', '-A', MULTI_APP, '-D', '-n', `${name}@%h`, '--uid', 'nobody']);
    assert.equal(started.code, 0, started.stderr);
    const pidfile = join(work, `${name}.pid`);
    const pid = daemonPid(pidfile);
    const nobody = uidOf(pid);
    assert.notEqual(nobody, 0);
    assert.equal(statSync(pidfile).uid, nobody);
    assert.equal(statSync(join(work, `${name}.log`)).uid, nobody);
    await waitUntil(() => /ready: queues/.test(readText(join(work, `${name}.log`))), 'ready in the log file');
    await stop(pid, pidfile);
  });
});
