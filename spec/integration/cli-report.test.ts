import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { runCli } from '../support/processes.js';

const BROKER = 'amqp://guest:guest@127.0.0.1:5672';
const MANAGEMENT = 'http://127.0.0.1:15672';
const LIB = new URL('../../lib/index.js', import.meta.url).href;

/** A tasks module in a temp directory, exporting an app with the given options and task names. */
function tasksModule(dir: string, options: Record<string, unknown>, tasks: string[]): string {
  const file = join(dir, `tasks-${randomUUID()}.mjs`);
  const body = [
    `import { createApp } from ${JSON.stringify(LIB)};`,
    `export const app = createApp(${JSON.stringify(options)});`,
    ...tasks.map((name) => `app.task(${JSON.stringify(name)}, (a, b) => a + b);`),
  ];
  writeFileSync(file, body.join('\n'));
  return file;
}

describe('celeriac report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-report-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints versions, the broker server, URLs with passwords hidden, every setting and the tasks', async () => {
    const suffix = randomUUID().slice(0, 8);
    const tasks = [`report.add.${suffix}`, `report.mul.${suffix}`];
    const beatSchedule = {
      sync: { task: tasks[0], every: '1h', kwargs: { password: 'pa55word', api_key: 'k3y', feed: 'amqp://feed:f33d@example.org' } },
      routed: { task: tasks[1], every: '1h', options: { routingKey: 'plain.key' } },
    };
    const options = { name: `report-${suffix}`, broker: BROKER, backend: 'redis://:hunter2@127.0.0.1:6379/0', beatSchedule };
    const module = tasksModule(dir, options, tasks);
    const { code, stdout, stderr } = await runCli(['report', '-A', module]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^software -> celeriac:\d+\.\d+\.\d+\S* node:v\d+/m);
    assert.match(stdout, /amqplib:\d+\.\d+\.\d+ ioredis:\d+\.\d+\.\d+/);
    assert.match(stdout, /^platform -> system:\S+ arch:\S+/m);
    assert.match(stdout, new RegExp(`^loader {3}-> module ${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(stdout, /^settings -> transport:amqp results:redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/0$/m);
    assert.match(stdout, /^broker {3}-> amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672 \(server RabbitMQ \d+\.\d+\.\d+\)$/m);
    assert.doesNotMatch(stdout, /hunter2|guest:guest|pa55word|k3y|f33d/);
    // Values under secret-looking keys are hidden wherever they are; a routing key is not a secret.
    assert.match(stdout, /"password":"\*\*\*","api_key":"\*\*\*","feed":"amqp:\/\/feed:\*\*\*@example\.org"/);
    assert.match(stdout, /"routingKey":"plain\.key"/);
    // Every resolved setting is listed, one per line.
    for (const key of ['name', 'broker', 'backend', 'defaultQueue', 'serializer', 'accept', 'prefetchMultiplier', 'controlCommands']) {
      assert.match(stdout, new RegExp(`^${key}: `, 'm'), key);
    }
    assert.match(stdout, new RegExp(`^name: "report-${suffix}"$`, 'm'));
    assert.match(stdout, /^backend: "redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/0"$/m);
    assert.match(
      stdout,
      new RegExp(`^tasks \\(2\\):\\n  \\. ${tasks[0].replace(/\./g, '\\.')}\\n  \\. ${tasks[1].replace(/\./g, '\\.')}$`, 'm'),
    );
  });

  it('without -A reports the app the environment configures; an unreachable broker is said, not fatal', async () => {
    const { code, stdout, stderr } = await runCli(['report'], {
      CELERIAC_APP: '',
      CELERIAC_BROKER_URL: 'amqp://someone:topsecret@127.0.0.1:1',
      CELERIAC_RESULT_BACKEND: '',
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^loader {3}-> environment/m);
    assert.match(stdout, /^broker {3}-> amqp:\/\/someone:\*\*\*@127\.0\.0\.1:1 \(not reachable: .*ECONNREFUSED/m);
    assert.doesNotMatch(stdout, /topsecret/);
  });

  it('a broker list: the list with passwords hidden and the fail-over strategy, then what each node answered', async () => {
    const { code, stdout, stderr } = await runCli(['report'], {
      CELERIAC_APP: '',
      CELERIAC_BROKER_URL: 'amqp://someone:topsecret@127.0.0.1:1;amqp://guest:guest@127.0.0.1:5672',
      CELERIAC_RESULT_BACKEND: '',
    });
    assert.equal(code, 0, stderr);
    const [dead, live] = ['amqp://someone:***@127.0.0.1:1', 'amqp://guest:***@127.0.0.1:5672'];
    const lines = stdout.split('\n');
    const at = lines.indexOf(`broker   -> ${dead};${live} (2 nodes, fail-over round-robin)`);
    assert.ok(at >= 0, stdout);
    assert.match(lines[at + 1], /^ {12}amqp:\/\/someone:\*\*\*@127\.0\.0\.1:1 \(not reachable: .*ECONNREFUSED.*\)$/);
    assert.match(lines[at + 2], /^ {12}amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672 \(server RabbitMQ \d+\.\d+\.\d+\)$/);
    assert.match(stdout, /^brokerFailover: "round-robin"$/m);
    assert.doesNotMatch(stdout, /topsecret|guest:guest/);
  });
});

describe('celeriac list bindings', () => {
  const suffix = randomUUID().slice(0, 8);
  const queue = `bindings-q-${suffix}`;
  const exchange = `bindings-x-${suffix}`;
  const routingKey = `bindings.rk.${suffix}`;
  let connection: amqp.ChannelModel;
  let managementReachable = false;

  before(async () => {
    connection = await amqp.connect(BROKER);
    const channel = await connection.createChannel();
    await channel.assertExchange(exchange, 'direct', { autoDelete: true });
    await channel.assertQueue(queue, { autoDelete: true, expires: 120_000 });
    await channel.bindQueue(queue, exchange, routingKey);
    await channel.close();
    managementReachable = await fetch(`${MANAGEMENT}/api/overview`, {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
      signal: AbortSignal.timeout(2000),
    }).then(
      (r) => r.ok,
      () => false,
    );
  });
  after(async () => {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
    await connection.close();
  });

  const bindingLine = (q: string, x: string, key: string) => new RegExp(`^${q}\\s+${x}\\s+${key.replace(/\./g, '\\.')}$`, 'm');

  it("lists a queue's binding from RabbitMQ's management API (skipped where the plugin is not enabled)", async (t) => {
    // CI enables the plugin (.ci/run): there a missing API is a failure, not a skip.
    if (!managementReachable && process.env.CI) assert.fail(`no management API at ${MANAGEMENT}`);
    if (!managementReachable) return t.skip(`no management API at ${MANAGEMENT}: rabbitmq-plugins enable rabbitmq_management`);
    const { code, stdout, stderr } = await runCli(['list', 'bindings', '--broker', BROKER]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Queue\s+Exchange\s+Routing Key\n-{16}\s+-{16}\s+-{16}$/m);
    assert.match(stdout, bindingLine(queue, exchange, routingKey));
  });

  describe('against a server speaking the management API', () => {
    let server: Server;
    const requests: IncomingMessage[] = [];
    before(async () => {
      server = createServer((req, res) => {
        requests.push(req);
        if (req.url !== '/api/bindings/%2F') return void res.writeHead(404).end('{"error":"Object Not Found"}');
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify([
            {
              source: '',
              vhost: '/',
              destination: queue,
              destination_type: 'queue',
              routing_key: queue,
              arguments: {},
              properties_key: queue,
            },
            {
              source: exchange,
              vhost: '/',
              destination: queue,
              destination_type: 'queue',
              routing_key: routingKey,
              arguments: {},
              properties_key: routingKey,
            },
          ]),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => server.close());

    it("asks /api/bindings/<vhost> with the broker URL's credentials and prints Celery's columns", async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { code, stdout, stderr } = await runCli([
        'list',
        'bindings',
        '--broker',
        'amqp://alice:wonder%40land@127.0.0.1:5672/',
        '--management-url',
        url,
      ]);
      assert.equal(code, 0, stderr);
      const request = requests.at(-1);
      assert.equal(request?.url, '/api/bindings/%2F');
      assert.equal(request?.headers.authorization, `Basic ${Buffer.from('alice:wonder@land').toString('base64')}`);
      assert.equal(
        stdout,
        [
          `${'Queue'.padEnd(28)} ${'Exchange'.padEnd(28)} Routing Key`,
          `${'-'.repeat(16).padEnd(28)} ${'-'.repeat(16).padEnd(28)} ${'-'.repeat(16)}`,
          `${queue.padEnd(28)} ${''.padEnd(28)} ${queue}`,
          `${queue.padEnd(28)} ${exchange.padEnd(28)} ${routingKey}`,
          '',
        ].join('\n'),
      );
    });

    it('an unknown vhost is an error naming it', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { code, stderr } = await runCli(['list', 'bindings', '--broker', `${BROKER}/nowhere-${suffix}`, '--management-url', url]);
      assert.notEqual(code, 0);
      assert.equal(requests.at(-1)?.url, `/api/bindings/nowhere-${suffix}`);
      assert.match(stderr, new RegExp(`no vhost "nowhere-${suffix}"`));
    });
  });

  it('a wrong management URL fails, naming the URL (password hidden) and how to enable the API', async () => {
    const { code, stdout, stderr } = await runCli([
      'list',
      'bindings',
      '--broker',
      BROKER,
      '--management-url',
      'http://admin:sesame@127.0.0.1:1',
      '-t',
      '2',
    ]);
    assert.notEqual(code, 0);
    assert.equal(stdout, '');
    assert.match(stderr, /management API not reachable at http:\/\/admin:\*\*\*@127\.0\.0\.1:1/);
    assert.match(stderr, /rabbitmq-plugins enable rabbitmq_management/);
    assert.doesNotMatch(stderr, /sesame/);
  });

  it('memory:// has no management API: a clear error', async () => {
    const { code, stderr } = await runCli(['list', 'bindings', '--broker', 'memory://']);
    assert.notEqual(code, 0);
    assert.match(stderr, /cannot list bindings: only RabbitMQ \(amqp:\/\/\) has a management API/);
  });
});
