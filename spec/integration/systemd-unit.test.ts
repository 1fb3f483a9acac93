import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createApp } from '../../lib/index.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { killDaemons, pidIn, processAlive, readText, runIn, startIn, waitUntil, type Finished } from '../support/daemons.js';
import { CLI } from '../support/processes.js';

const MULTI_APP = new URL('../support/multi-app.js', import.meta.url).pathname;
const DEPLOYMENT = readFileSync(new URL('../../../docs/deployment.md', import.meta.url), 'utf8');
const HOST = hostname();

/** The fenced block of docs/deployment.md whose first line is `# <path>...`. */
function block(path: string): string {
  const found = [...DEPLOYMENT.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1]).find((text) => text.startsWith(`# ${path}`));
  assert.ok(found, `docs/deployment.md shows no ${path}`);
  return found;
}

/** A unit file's [Service] settings, continuation lines joined as systemd joins them (the backslash becomes a space). */
function serviceSettings(unit: string): Map<string, string> {
  const settings = new Map<string, string>();
  let section = '';
  for (const line of unit.replace(/\\\n/g, ' ').split('\n')) {
    if (/^\[\w+\]$/.test(line)) section = line;
    const setting = /^(\w+)=(.*)$/.exec(line);
    if (section === '[Service]' && setting) settings.set(setting[1], setting[2]);
  }
  return settings;
}

/** An EnvironmentFile: KEY="value" lines, comments skipped, quotes removed. */
function environmentFile(text: string): Map<string, string> {
  const variables = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_]\w*)=(?:"(.*)"|(.*))$/.exec(line.trim());
    if (match) variables.set(match[1], match[2] ?? match[3]);
  }
  return variables;
}

/**
 * A unit's command line as systemd runs it: split into words (single and double quotes group),
 * `${VAR}` replaced by the variable's exact value anywhere in a word, a word that is `$VAR` alone
 * replaced by the value's whitespace-separated words; anything else (`$VAR` inside a word) is
 * left for the program, here /bin/sh.
 */
function systemdArgv(line: string, env: ReadonlyMap<string, string>): string[] {
  const words = [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  return words.flatMap((word) => {
    const alone = /^\$([A-Za-z_]\w*)$/.exec(word);
    if (alone) return (env.get(alone[1]) ?? '').split(/\s+/).filter((part) => part !== '');
    return [word.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, name: string) => env.get(name) ?? '')];
  });
}

/** The variables a command line uses ($VAR and ${VAR}). */
function variablesOf(line: string): string[] {
  return [...line.matchAll(/\$\{?([A-Za-z_]\w*)\}?/g)].map((m) => m[1]);
}

/**
 * The systemd units of docs/deployment.md, their Exec lines run literally against the real
 * broker (systemd does not run here: its part, Type=forking tracking and the restart policy, is
 * not exercised).
 */
describe('the systemd units of docs/deployment.md', () => {
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-systemd-'));
  const queue = uniqueName('systemd');
  const [n1, n2] = [`sd${id}a`, `sd${id}b`];
  const documented = environmentFile(block('/etc/conf.d/celeriac'));
  /** The documented environment file with this machine's paths, broker and names; every other value as documented. */
  const overrides = new Map([
    ['CELERIACD_NODES', `${n1} ${n2}`],
    ['CELERIAC_BIN', `${process.execPath} ${CLI}`],
    ['CELERIAC_APP', MULTI_APP],
    ['CELERIAC_BROKER_URL', AMQP_URL],
    ['CELERIAC_RESULT_BACKEND', REDIS_URL],
    ['CELERIACD_OPTS', '-c 1 --prefetch-multiplier 1 --shutdown-timeout 5m'],
    ['CELERIACD_PID_FILE', `${dir}/run/%n.pid`],
    ['CELERIACD_LOG_FILE', `${dir}/log/%n%I.log`],
    ['CELERIACBEAT_PID_FILE', `${dir}/run/beat.pid`],
    ['CELERIACBEAT_LOG_FILE', `${dir}/log/beat.log`],
  ]);
  const env = new Map([...documented, ...overrides, ['MULTI_SPEC_QUEUE', queue], ['MULTI_SPEC_NAME', uniqueName('systemd-app')]]);
  // systemd starts a service with a clean environment: PATH and the EnvironmentFile's variables.
  const serviceEnv = { PATH: process.env.PATH, ...Object.fromEntries(env) };
  const seen = new Set<number>();
  const producer = createApp({ broker: AMQP_URL, backend: REDIS_URL, defaultQueue: queue, logLevel: 'silent' });

  const exec = (line: string) => {
    const [program, ...args] = systemdArgv(line, env);
    return { program: program, args };
  };
  const run = (line: string): Promise<Finished> => {
    const { program, args } = exec(line);
    return startIn(dir, program, args, serviceEnv, { inheritEnv: false }).finished;
  };
  const pids = (): number[] =>
    [n1, n2].map((node) => {
      const pid = pidIn(join(dir, 'run', `${node}.pid`));
      assert.ok(pid !== null, `no pidfile for ${node}`);
      seen.add(pid);
      return pid;
    });
  const online = async (): Promise<string> => {
    const status = await runIn(dir, process.execPath, [CLI, 'status', '-d', `${n1}@${HOST},${n2}@${HOST}`, '-t', '5s'], serviceEnv);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    return status.stdout;
  };

  after(async () => {
    killDaemons(seen, [dir]);
    await producer.transport.deleteQueue(queue).catch(() => undefined);
    await producer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the documented files hold together: every variable the units use is in the environment file, no % in a command', () => {
    for (const key of overrides.keys()) assert.ok(documented.has(key), `the environment file sets ${key}`);
    for (const path of ['/etc/systemd/system/celeriac.service', '/etc/systemd/system/celeriacbeat.service']) {
      const service = serviceSettings(block(path));
      assert.equal(service.get('EnvironmentFile'), '/etc/conf.d/celeriac');
      for (const [key, line] of service) {
        if (!key.startsWith('Exec')) continue;
        for (const name of variablesOf(line))
          assert.ok(documented.has(name), `${path} ${key} uses ${name}, which the environment file sets`);
        assert.doesNotMatch(line, /%/, `${path} ${key}: % is a systemd specifier`);
      }
    }
    const workers = serviceSettings(block('/etc/systemd/system/celeriac.service'));
    assert.equal(workers.get('Type'), 'forking');
    assert.match(workers.get('ExecStart')!, /multi start /);
    assert.match(workers.get('ExecStop')!, /multi stopwait /);
    assert.match(workers.get('ExecReload')!, /multi restart /);
  });

  it('ExecStart starts both workers, ExecReload restarts them, ExecStop returns after the running task finished', async () => {
    const service = serviceSettings(block('/etc/systemd/system/celeriac.service'));
    const started = await run(service.get('ExecStart')!);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    assert.match(started.stdout, new RegExp(`\\t> ${n1}@${HOST}: OK\\n\\t> ${n2}@${HOST}: OK`));
    const first = pids();
    assert.match(await online(), /2 nodes online\./);

    const reloaded = await run(service.get('ExecReload')!);
    assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr);
    const second = pids();
    assert.ok(
      second.every((pid, i) => pid !== first[i] && processAlive(pid)),
      'new processes after reload',
    );
    assert.ok(first.every((pid) => !processAlive(pid)));
    assert.match(await online(), /2 nodes online\./);

    const [startedFile, gate] = [join(dir, 'hold.started'), join(dir, 'hold.gate')];
    const result = await producer.sendTask<number>('spec.multi.hold', [startedFile, gate]);
    await waitUntil(() => existsSync(startedFile), 'the task running');
    const { program, args } = exec(service.get('ExecStop')!);
    const stopping = startIn(dir, program, args, serviceEnv, { inheritEnv: false });
    await waitUntil(
      () => /> Waiting for 2 nodes/.test(stopping.output()),
      'ExecStop waiting',
      30_000,
      () => stopping.output(),
    );
    assert.equal(stopping.child.exitCode, null, 'ExecStop waits while the task runs');
    assert.equal(await result.ready(), false);
    writeFileSync(gate, '');
    const stopped = await stopping.finished;
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assert.equal(await result.state, 'SUCCESS', 'finished before ExecStop returned');
    assert.ok(second.includes(await result.get()));
    assert.ok(second.every((pid) => !processAlive(pid)));
    for (const node of [n1, n2]) assert.equal(existsSync(join(dir, 'run', `${node}.pid`)), false, `${node}'s pidfile removed`);
  });

  it('the beat unit (Type=simple): beat writes its pidfile and log; SIGTERM to the unit stops it, removing the pidfile', async () => {
    const { program, args } = exec(serviceSettings(block('/etc/systemd/system/celeriacbeat.service')).get('ExecStart')!);
    // In a process group of its own, signalled as a whole as systemd signals a unit's control group.
    const beat = startIn(dir, program, args, serviceEnv, { inheritEnv: false, detached: true });
    const pidfile = join(dir, 'run', 'beat.pid');
    const logfile = join(dir, 'log', 'beat.log');
    await waitUntil(
      () => /Sending due task tick/.test(readText(logfile)),
      'beat sending',
      30_000,
      () => readText(logfile) + beat.output(),
    );
    const pid = pidIn(pidfile);
    assert.ok(pid !== null);
    seen.add(pid);
    assert.equal(pid, beat.child.pid, 'sh execs beat: the unit’s main process is beat');
    process.kill(-beat.child.pid!, 'SIGTERM');
    assert.equal((await beat.finished).code, 0);
    assert.equal(existsSync(pidfile), false);
  });
});
