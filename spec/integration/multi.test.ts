import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createApp, type App } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { killDaemons, pidIn, processAlive, readText, runIn, startIn, waitUntil, type Finished } from '../support/daemons.js';
import { CLI } from '../support/processes.js';

const MULTI_APP = new URL('../support/multi-app.js', import.meta.url).pathname;
const HOST = hostname();
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `celeriac multi`, Celery's `celery multi`, with two real workers on RabbitMQ and Redis. */
describe('celeriac multi start|stop|stopwait|restart|kill', () => {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-multi-'));
  const [q1, q2] = [uniqueName('multi-one'), uniqueName('multi-two')];
  const [n1, n2] = [`m${id}a`, `m${id}b`];
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL, MULTI_SPEC_NAME: uniqueName('multi-app') };
  const files = [`--pidfile=${dir}/run/%n.pid`, `--logfile=${dir}/log/%n%I.log`];
  // Per-node options: a queue each, and n1 runs two tasks at once.
  const workerOptions = ['-A', MULTI_APP, `-Q:${n1}`, q1, `-Q:${n2}`, q2, '-c', '1', `-c:${n1}`, '2', '--shutdown-timeout=5m', ...files];
  const pidfile = (node: string): string => join(dir, 'run', `${node}.pid`);
  const logfile = (node: string): string => join(dir, 'log', `${node}.log`);
  const seen = new Set<number>();
  const producer: App = createApp({ broker: AMQP_URL, backend: REDIS_URL, logLevel: 'silent' });

  const multi = (...args: string[]): Promise<Finished> => runIn(dir, process.execPath, [CLI, 'multi', ...args], env);
  const pidOf = (node: string): number => {
    const pid = pidIn(pidfile(node));
    assert.ok(pid !== null, `no pid for ${node}`);
    seen.add(pid);
    return pid;
  };
  /** A task that runs until its gate file is written. */
  const hold = async (queue: string, name: string) => {
    const [started, gate] = [join(dir, `${name}.started`), join(dir, `${name}.gate`)];
    const result = await producer.sendTask<number>('spec.multi.hold', [started, gate], {}, { queue });
    await waitUntil(() => existsSync(started), `${name} running`);
    return { result, open: () => writeFileSync(gate, '') };
  };

  after(async () => {
    killDaemons(seen, [dir]);
    for (const queue of [q1, q2]) await producer.transport.deleteQueue(queue).catch(() => undefined);
    await producer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('start: each node detached with its own options, pid and log file; one already running is FAILED (exit 1)', async () => {
    const started = await multi('start', n1, n2, ...workerOptions);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    assert.deepEqual(started.stdout.split('\n'), [
      `celeriac multi v${VERSION}`,
      '> Starting nodes...',
      `\t> ${n1}@${HOST}: OK`,
      `\t> ${n2}@${HOST}: OK`,
      '',
    ]);
    const [pid1, pid2] = [pidOf(n1), pidOf(n2)];
    assert.ok(processAlive(pid1) && processAlive(pid2));
    await waitUntil(() => /ready: queues/.test(readText(logfile(n1))) && /ready: queues/.test(readText(logfile(n2))), 'both ready');
    assert.match(readText(logfile(n1)), new RegExp(`ready: queues ${q1.replaceAll('.', '\\.')}; concurrency 2;`));
    assert.match(readText(logfile(n2)), new RegExp(`ready: queues ${q2.replaceAll('.', '\\.')}; concurrency 1;`));

    const status = await runIn(dir, process.execPath, [CLI, 'status', '-d', `${n1}@${HOST},${n2}@${HOST}`, '-t', '5s'], env);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /2 nodes online\./);

    const again = await multi('start', n1, ...workerOptions);
    assert.equal(again.code, 1);
    assert.match(again.stdout, new RegExp(`\\t> ${n1}@${HOST}: \\* Child terminated with exit code 73\\nFAILED`));
    assert.match(again.stderr, /already exists/);
    assert.equal(pidIn(pidfile(n1)), pid1);
  });

  it('stop signals and returns while tasks run; stopwait returns once they have finished and the workers have exited', async () => {
    const [pid1, pid2] = [pidOf(n1), pidOf(n2)];
    const one = await hold(q1, `one-${id}`);
    const two = await hold(q2, `two-${id}`);

    const stopped = await multi('stop', n1, ...files);
    assert.equal(stopped.code, 0);
    assert.match(stopped.stdout, new RegExp(`> Stopping nodes\\.\\.\\.\\n\\t> ${n1}@${HOST}: TERM -> ${pid1}\\n$`));
    // Its task cannot end before its gate opens: stop has not waited for it.
    assert.ok(processAlive(pid1), 'stop does not wait');
    assert.equal(pidIn(pidfile(n1)), pid1);
    await waitUntil(() => /SIGTERM received: warm shutdown/.test(readText(logfile(n1))), 'n1 in warm shutdown');

    const stopwait = startIn(dir, process.execPath, [CLI, 'multi', 'stopwait', n1, n2, ...files], env);
    await waitUntil(
      () => /> Waiting for 2 nodes -> /.test(stopwait.output()),
      'stopwait waiting',
      30_000,
      () => stopwait.output(),
    );
    assert.equal(stopwait.child.exitCode, null, 'stopwait waits while the tasks run');
    assert.equal(await one.result.ready(), false);
    one.open();
    two.open();
    const waited = await stopwait.finished;
    assert.equal(waited.code, 0, waited.stdout + waited.stderr);
    // Both results were stored before their workers exited, so before stopwait returned.
    assert.deepEqual([await one.result.state, await two.result.state], ['SUCCESS', 'SUCCESS']);
    assert.deepEqual([await one.result.get(), await two.result.get()], [pid1, pid2]);
    assert.ok(!processAlive(pid1) && !processAlive(pid2));
    assert.ok(!existsSync(pidfile(n1)) && !existsSync(pidfile(n2)), 'both pidfiles removed');
    for (const node of [n1, n2]) {
      assert.match(waited.stdout, new RegExp(`\\n\\t> ${node}@${HOST}: OK\\n> ${node}@${HOST}: DOWN\\n`));
    }
    // The second SIGTERM (stop, then stopwait) did not end n1's warm shutdown early.
    assert.match(readText(logfile(n1)), /SIGTERM again: the warm shutdown goes on/);
    assert.doesNotMatch(readText(logfile(n1)), /exiting now/);
  });

  it('restart starts each node again as it goes down; kill SIGKILLs; stop reports the dead; start replaces the stale pidfile', async () => {
    assert.equal((await multi('start', n1, n2, ...workerOptions)).code, 0);
    const [pid1, pid2] = [pidOf(n1), pidOf(n2)];

    const restarted = await multi('restart', n1, n2, ...workerOptions);
    assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
    assert.match(restarted.stdout, new RegExp(`\\t> ${n1}@${HOST}: TERM -> ${pid1}\\n\\t> ${n2}@${HOST}: TERM -> ${pid2}\\n`));
    assert.match(restarted.stdout, new RegExp(`> Restarting node ${n1}@${HOST}: OK`));
    assert.match(restarted.stdout, new RegExp(`> Restarting node ${n2}@${HOST}: OK`));
    const [new1, new2] = [pidOf(n1), pidOf(n2)];
    assert.ok(new1 !== pid1 && new2 !== pid2 && processAlive(new1) && processAlive(new2));
    assert.ok(!processAlive(pid1) && !processAlive(pid2));

    const killed = await multi('kill', n1, n2, `m${id}z`, ...files);
    assert.equal(killed.code, 0);
    assert.match(
      killed.stdout,
      new RegExp(
        `Sending KILL to node ${n1}@${HOST} \\(${new1}\\)\\nSending KILL to node ${n2}@${HOST} \\(${new2}\\)\\n> m${id}z@${HOST}: DOWN`,
      ),
    );
    await waitUntil(() => !processAlive(new1) && !processAlive(new2), 'both killed');
    assert.equal(pidIn(pidfile(n1)), new1, 'a killed worker leaves its pidfile, as Celery’s does');

    const stopped = await multi('stop', n1, ...files);
    assert.equal(stopped.code, 0);
    assert.match(
      stopped.stdout,
      new RegExp(`TERM -> ${new1}\\nCould not signal ${n1}@${HOST} \\(${new1}\\): No such process\\n> ${n1}@${HOST}: DOWN`),
    );

    const again = await multi('start', n1, ...workerOptions);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const pid = pidOf(n1);
    assert.ok(pid !== new1 && processAlive(pid));
    await waitUntil(() => /Stale pidfile exists - Removing it\./.test(readText(logfile(n1))), 'the stale pidfile replaced');
    assert.equal((await multi('stopwait', n1, n2, ...files)).code, 0);
    assert.ok(!processAlive(pid));
  });

  it('a node that cannot start (bad -A) is FAILED with its error, the others start, and multi exits 1', async () => {
    const [good, bad] = [`m${id}c`, `m${id}d`];
    const started = await multi('start', good, bad, ...workerOptions, `-A:${bad}`, './no-such-tasks.js');
    assert.equal(started.code, 1);
    assert.match(
      started.stdout,
      new RegExp(`\\t> ${good}@${HOST}: OK\\n\\t> ${bad}@${HOST}: \\* Child terminated with exit code 2\\nFAILED\\n`),
    );
    assert.match(started.stderr, new RegExp(`worker ${bad}@${HOST} \\(pid \\d+\\) exited with status 2 before writing its pidfile`));
    assert.match(started.stderr, /--app: cannot load \.\/no-such-tasks\.js/);
    assert.ok(processAlive(pidOf(good)));
    assert.equal(existsSync(pidfile(bad)), false);
    const stopped = await multi('stopwait', good, bad, ...files);
    assert.equal(stopped.code, 0);
    assert.match(stopped.stdout, new RegExp(`> ${bad}@${HOST}: DOWN`));
  });

  it('names, show, get, expand, help; an unknown command prints the usage and exits 1', async () => {
    const names = await multi('names', '3', '--range-prefix=w');
    assert.deepEqual(names.stdout.trim().split('\n'), [`w1@${HOST}`, `w2@${HOST}`, `w3@${HOST}`]);
    const show = await multi('show', 'a', 'b', '-c', '3', '-c:b', '5');
    assert.match(
      show.stdout,
      new RegExp(`^\\S+ \\S+celeriac\\.js worker --detach -c 3 -n a@${HOST} --pidfile=a\\.pid --logfile=a%I\\.log$`, 'm'),
    );
    assert.match(show.stdout, new RegExp(`worker --detach -c 5 -n b@${HOST} --pidfile=b\\.pid`));
    const got = await multi('get', `b@${HOST}`, 'a', 'b', '-c', '3');
    assert.equal(got.stdout, `worker --detach -c 3 -n b@${HOST} --pidfile=b.pid --logfile=b%I.log\n`);
    assert.equal((await multi('get', 'nobody@nowhere', 'a')).code, 1);
    assert.equal((await multi('expand', '%n.pid', 'a', 'b')).stdout, 'a.pid\nb.pid\n');
    assert.equal((await multi('help')).code, 0);
    const unknown = await multi('begin', 'a');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Invalid command: begin/);
    assert.match(unknown.stdout, /usage: celeriac multi start/);
  });
});
