import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import amqp from 'amqplib';
import { createApp, type Delivery } from '../../lib/index.js';
import { queueDeclaration } from '../../lib/app/queues.js';
import { decodeTaskMessage } from '../../lib/protocol/task-message.js';
import { AMQP_URL, REDIS_URL, uniqueName } from '../support/apps.js';
import { EXAMPLE_TASKS, runCli, startCli, type RunningProcess } from '../support/processes.js';

const BEAT_APP = new URL('../support/beat-app.js', import.meta.url).pathname;

/** Waits for `condition` (polled), failing with `what` after a generous bound. */
async function until(condition: () => boolean | Promise<boolean>, what: string, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Celery's flags of call, inspect/control/status, purge and beat, each as Celery's does it. */
describe("celeriac call, inspect, control, purge and beat: Celery's flags", () => {
  const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: REDIS_URL };
  const admin = createApp({ broker: AMQP_URL, backend: REDIS_URL, logLevel: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-command-flags-'));
  const queues: string[] = [];
  const exchanges: string[] = [];
  const started: RunningProcess[] = [];

  after(async () => {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    for (const name of queues) await admin.transport.deleteQueue(name).catch(() => undefined);
    if (exchanges.length > 0) {
      const connection = await amqp.connect(AMQP_URL);
      const channel = await connection.createChannel();
      for (const name of exchanges) await channel.deleteExchange(name);
      await connection.close();
    }
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const queue = async (prefix: string): Promise<string> => {
    const name = uniqueName(prefix);
    queues.push(name);
    await admin.transport.declareQueue(queueDeclaration(name, admin.config));
    return name;
  };
  /** The one message on `q`, taken (and acked), decoded as a worker decodes it. */
  const takeOne = async (q: string): Promise<{ delivery: Delivery; message: ReturnType<typeof decodeTaskMessage> }> => {
    let delivery: Delivery | null = null;
    await until(async () => (delivery = await admin.transport.get(q)) !== null, `a message on ${q}`);
    const taken = delivery as unknown as Delivery;
    taken.ack();
    return { delivery: taken, message: decodeTaskMessage(taken.body, taken.properties, ['json', 'msgpack']) };
  };
  const call = async (args: string[]): Promise<string> => {
    const { code, stdout, stderr } = await runCli(['call', ...args], env);
    assert.equal(code, 0, stderr);
    return stdout.trim();
  };

  it('call: -a, -k, --eta, --expires (a date), --serializer and --queue land in the message', async () => {
    const q = await queue('call-dates');
    // Near, so the message is on the queue within seconds (a far ETA waits in the broker's delay tiers).
    const eta = new Date(Date.now() + 2000).toISOString();
    const id = await call([
      'tasks.add',
      '-a',
      '[1]',
      '-k',
      '{"y": 2}',
      '--queue',
      q,
      '--eta',
      eta,
      '--expires',
      '2031-06-01T00:00:00Z',
      '--serializer',
      'msgpack',
    ]);
    const { delivery, message } = await takeOne(q);
    assert.equal(message.headers.id, id);
    assert.equal(delivery.properties.contentType, 'application/x-msgpack');
    assert.deepEqual(message.args, [1]);
    assert.deepEqual(message.kwargs, { y: 2 });
    assert.equal(Date.parse(String(message.headers.eta)), Date.parse(eta));
    assert.equal(Date.parse(String(message.headers.expires)), Date.parse('2031-06-01T00:00:00Z'));
  });

  it('call: --countdown and --expires in seconds, as Celery reads them', async () => {
    const q = await queue('call-seconds');
    const before = Date.now();
    await call(['tasks.add', '--args', '[1, 2]', '--queue', q, '--countdown', '5', '--expires', '600']);
    const after = Date.now();
    const { message } = await takeOne(q);
    const eta = Date.parse(String(message.headers.eta));
    const expires = Date.parse(String(message.headers.expires));
    assert.ok(eta >= before + 4_000 && eta <= after + 6_000, `eta 5 s after the call, got ${message.headers.eta}`);
    assert.ok(expires >= before + 599_000 && expires <= after + 601_000, `expires 600 s after the call, got ${message.headers.expires}`);
  });

  it('call: --exchange and --routing-key publish through that exchange; a bad --eta names the flag', async () => {
    const q = await queue('call-exchange');
    const exchange = uniqueName('exchange');
    exchanges.push(exchange);
    const key = `rk-${randomUUID().slice(0, 8)}`;
    await call(['tasks.add', '-a', '[3, 4]', '--exchange', exchange, '--routing-key', key, '--queue', q]);
    const { delivery, message } = await takeOne(q);
    assert.equal(delivery.exchange, exchange);
    assert.equal(delivery.routingKey, key);
    assert.deepEqual(message.args, [3, 4]);
    const bad = await runCli(['call', 'tasks.add', '--queue', q, '--eta', 'tomorrow'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--eta: expected an ISO 8601 date-time/);
  });

  it('inspect/control/status: -j prints JSON as Celery’s, -t takes seconds, -d picks the node', async () => {
    const q = await queue('remote');
    const node = `cmd-flags-${randomUUID().slice(0, 8)}@spec`;
    const worker = startCli(['worker', '-A', EXAMPLE_TASKS, '-Q', q, '-n', node, '-c', '1', '-l', 'info'], env);
    started.push(worker);
    await worker.waitFor(/ready: queues/, 60_000);
    const ping = await runCli(['inspect', 'ping', '-j', '-d', node, '-t', '10'], env);
    assert.equal(ping.code, 0, ping.stderr);
    assert.deepEqual(JSON.parse(ping.stdout), { [node]: { ok: 'pong' } });
    const status = await runCli(['status', '--json', '-d', node, '-t', '10'], env);
    assert.deepEqual(JSON.parse(status.stdout), { [node]: { ok: 'pong' } });
    const limit = await runCli(['control', 'rate_limit', 'tasks.add', '100/s', '-j', '-d', node, '-t', '10'], env);
    assert.equal(limit.code, 0, limit.stderr);
    assert.deepEqual(JSON.parse(limit.stdout), [{ [node]: { ok: 'new rate limit set successfully' } }], 'a list, as Celery’s control -j');
    const scale = await runCli(['control', 'autoscale', '4', '2', '-j', '-d', node, '-t', '10'], env);
    assert.deepEqual(JSON.parse(scale.stdout), [{ [node]: { ok: 'autoscale now max=4 min=2' } }], scale.stderr);
    const stats = await runCli(['inspect', 'stats', '-j', '-d', node, '-t', '10'], env);
    const mine = (JSON.parse(stats.stdout) as Record<string, { autoscaler: unknown; prefetch_count: number }>)[node];
    assert.deepEqual(mine?.autoscaler, { max: 4, min: 2, current: 2, qty: 0 });
    assert.equal(mine?.prefetch_count, 64, 'the async pool’s rule with no multiplier given: max × 4, at least 64');
    const nobody = await runCli(['inspect', 'ping', '-j', '-d', `nobody-${node}`, '-t', '0.3'], env);
    assert.equal(nobody.code, 69, 'EX_UNAVAILABLE, as Celery');
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });

  it('purge: -Q with -X purges the queues named less those excluded; -f skips the question', async () => {
    const purged = await queue('purged');
    const kept = await queue('kept');
    const sender = createApp({ broker: AMQP_URL, backend: null, logLevel: 'silent' });
    try {
      for (const q of [purged, purged, kept]) await sender.sendTask('tasks.add', [1, 1], {}, { queue: q });
    } finally {
      await sender.close();
    }
    const { code, stdout, stderr } = await runCli(['purge', '-Q', `${purged},${kept}`, '-X', kept, '-f', '--broker', AMQP_URL], env);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`${purged.replaceAll('.', '\\.')}: 2 message\\(s\\) purged`));
    assert.doesNotMatch(stdout, new RegExp(kept.replaceAll('.', '\\.')));
    assert.equal(await admin.transport.messageCount(purged), 0);
    assert.equal(await admin.transport.messageCount(kept), 1);
  });

  it('beat: --pidfile, -f (reopened on SIGHUP), --max-interval and -s (accepted, explained)', async () => {
    const q = await queue('beat-flags');
    const pidfile = join(dir, 'beat.pid');
    const logfile = join(dir, 'beat.log');
    const schedule = join(dir, 'celerybeat-schedule');
    const beatEnv = { ...env, BEAT_SPEC_QUEUE: q, BEAT_SPEC_NAME: uniqueName('beat-flags-app') };
    const args = ['beat', '-A', BEAT_APP, '-l', 'info', '--pidfile', pidfile, '-f', logfile, '--max-interval', '0.5', '-s', schedule];
    const beat = startCli(args, beatEnv);
    started.push(beat);
    const log = (): string => (existsSync(logfile) ? readFileSync(logfile, 'utf8') : '');
    await until(() => /Sending due task tick/.test(log()), 'a run sent, logged to the file');
    assert.equal(readFileSync(pidfile, 'utf8'), `${beat.child.pid}\n`);
    assert.match(log(), /-s \S+celerybeat-schedule: not used: the schedule state is kept in the result backend/);
    assert.equal(existsSync(schedule), false, 'no schedule file is written');
    assert.doesNotMatch(beat.output(), /Sending due task/, 'nothing on stderr once logging to the file');

    renameSync(logfile, `${logfile}.1`);
    beat.child.kill('SIGHUP');
    await until(() => /log file reopened/.test(log()), 'a new file at the path after SIGHUP');
    await until(() => /Sending due task tick/.test(log()), 'runs logged to the new file');
    beat.child.kill('SIGTERM');
    assert.equal(await beat.exited, 0);
    assert.equal(existsSync(pidfile), false, 'the pid file is removed on exit');
    assert.ok((await admin.transport.messageCount(q)) >= 2, 'the runs were sent');
  });
});
