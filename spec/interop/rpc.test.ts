import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { chain, createApp, Signature, TaskFailedError, type App, type Worker } from '../../lib/index.js';
import type { RunningProcess } from '../support/processes.js';
import { AMQP_URL, uniqueName } from '../support/apps.js';
import { defineNodeTasks } from './node-tasks.js';
import {
  deleteQueues,
  pythonProducer,
  startPythonWorker,
  stopPythonWorker,
  type InteropQueues,
  type PythonOutcome,
} from './python-peer.js';

/**
 * rpc:// across languages: results travel back as messages to the sender's reply queue, both
 * ways — a Python Celery 5.2 client (`backend='rpc://'`) reads results of celeriac workers, and
 * a celeriac app (`backend: 'rpc://'`) reads results of a Python worker. Both sides run with a
 * result expiry that is not the default (one hour), because it is also the `x-expires` of every
 * reply queue: whoever declares another client's queue must declare it exactly as Celery does,
 * or RabbitMQ refuses with 406 PRECONDITION_FAILED.
 */
const RESULT_EXPIRES_S = 3600;

describe('interop: rpc:// results between Python Celery and celeriac', () => {
  const queues: InteropQueues = { py: uniqueName('interop-rpc.py'), node: uniqueName('interop-rpc.node') };
  let python: RunningProcess | undefined;
  /** Serves node.* (a worker with rpc://: replies go to each message's reply_to). */
  let workerApp: App;
  let workers: Worker[] = [];
  /** A celeriac client on rpc://, sending to the Python worker. */
  let client: App;
  let redis: Redis;
  let node: ReturnType<typeof defineNodeTasks>;

  before(async () => {
    // Read by tasks.py in every Python child (python-peer.ts passes process.env on); this file
    // runs in a process of its own.
    process.env.INTEROP_RESULT_BACKEND = 'rpc://';
    process.env.INTEROP_RESULT_EXPIRES = String(RESULT_EXPIRES_S);
    const common = { broker: AMQP_URL, backend: 'rpc://', resultExpires: `${RESULT_EXPIRES_S}s`, logLevel: 'silent' } as const;
    workerApp = createApp({ name: 'interop-rpc-worker', defaultQueue: queues.node, ...common });
    client = createApp({ name: 'interop-rpc-client', defaultQueue: queues.node, ...common });
    redis = new Redis({ lazyConnect: true }); // node.add_last is not used here; the tasks need a client
    node = defineNodeTasks(workerApp, queues.node, redis);
    workers = [0, 1].map((i) => workerApp.worker({ concurrency: 4, queues: [queues.node], hostname: `rpc${i}@%h`, shutdownTimeout: '5s' }));
    await Promise.all([...workers.map((worker) => worker.start()), startPythonWorker(queues).then((p) => (python = p))]);
  });

  after(async () => {
    for (const worker of workers) await worker.stop();
    await stopPythonWorker(python);
    await Promise.all([workerApp?.close(), client?.close()]);
    redis?.disconnect();
    await deleteQueues([queues.py, queues.node]);
  });

  describe('Python client (rpc://) → celeriac workers', () => {
    const producer = <T = PythonOutcome>(command: string, ...args: (string | object)[]) => pythonProducer<T>(queues, command, args);

    it('node_add.delay(2, 3): the result comes back to the Python client; get() returns 5', async () => {
      const out = await producer('delay_add');
      assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 5 });
      assert.ok(
        node.calls.some((call) => call.id === out.id),
        'a celeriac worker ran it',
      );
    });

    it('keyword arguments and a countdown, answered through the reply queue', async () => {
      const out = await producer('apply_async_kwargs');
      assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 3 });
    });

    it("a Node TypeError is raised by Python's get() as Python's TypeError, with message and JavaScript traceback", async () => {
      const out = await producer('call', 'node.fail', { args: ['boom over rpc'] });
      assert.equal(out.state, 'FAILURE');
      assert.deepEqual(out.error, { type: 'TypeError', module: 'builtins', message: 'boom over rpc' });
      assert.match(out.traceback ?? '', /TypeError: boom over rpc/);
    });

    it('a project error class reaches Python under its own name', async () => {
      const out = await producer('call', 'node.fail_custom', { args: ['acct-7', 2] });
      assert.equal(out.state, 'FAILURE');
      assert.deepEqual(out.error, { type: 'QuotaExceeded', module: 'celery.exceptions', message: 'account acct-7 is over quota by 2' });
    });

    it('a chain built in Python, both steps on celeriac workers: (2 * 2) + 10 = 14 comes back to the Python client', async () => {
      const out = await producer<PythonOutcome & { parent_id: string }>('node_chain');
      assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 14 });
      const first = node.calls.find((call) => call.id === out.parent_id);
      const second = node.calls.find((call) => call.id === out.id);
      assert.deepEqual(first?.args, [2, 2]);
      assert.deepEqual(second?.args, [4, 10], 'the second step got the first result first');
    });

    it(
      "a Python client whose result_expires differs from the celeriac worker's still gets its result" +
        " (Celery's workers never declare reply queues)",
      async () => {
        // The client declares its reply queue with x-expires = 1 day (Celery's default); the
        // workers' resultExpires is one hour. Declaring the client's queue with the worker's
        // arguments would be refused (406) and the result never sent.
        process.env.INTEROP_RESULT_EXPIRES = '86400';
        try {
          const out = await producer('call', 'node.add', { args: [20, 22] });
          assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 42 });
        } finally {
          process.env.INTEROP_RESULT_EXPIRES = String(RESULT_EXPIRES_S);
        }
      },
    );

    it('a mixed chain built in Python (Python add, Node multiply) returns ((2 + 3) * 4 + 10) * 2 = 60 to the Python client', async () => {
      const out = await producer('mixed_chain');
      assert.deepEqual({ state: out.state, result: out.result }, { state: 'SUCCESS', result: 60 });
    });
  });

  describe('celeriac client (rpc://) → Python worker', () => {
    const py = (task: string, ...args: unknown[]) => new Signature({ task: `tasks.${task}`, args, options: { queue: queues.py } }, client);

    it("sendTask('tasks.add', [2, 3]) runs on Python; its reply reaches the celeriac client: get() returns 5", async () => {
      const result = await client.sendTask<number>('tasks.add', [2, 3], {}, { queue: queues.py });
      assert.equal(await result.get({ timeout: '20s' }), 5);
      assert.equal(await result.state, 'SUCCESS');
      // Python ran it: its 'received' line is written before the task runs (its 'succeeded' line
      // may still be on its way when the reply has already arrived).
      assert.match(python!.output(), new RegExp(`Task tasks\\.add\\[${result.id}\\] received`));
    });

    it('msgpack task messages, JSON replies', async () => {
      const result = await client.sendTask<number>('tasks.multiply', [6, 7], {}, { queue: queues.py, serializer: 'msgpack' });
      assert.equal(await result.get({ timeout: '20s' }), 42);
    });

    it("a Python exception rejects get() with TaskFailedError carrying Python's type, message, module and traceback", async () => {
      const result = await client.sendTask('tasks.fail', ['python says no'], {}, { queue: queues.py });
      const error = await result.get({ timeout: '20s' }).then(
        () => assert.fail('get() resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TaskFailedError);
      assert.equal(error.state, 'FAILURE');
      assert.equal(error.excType, 'ValueError');
      assert.equal(error.excModule, 'builtins');
      assert.equal(error.excMessage, 'python says no');
      assert.match(error.traceback ?? '', /ValueError: python says no\s*$/);
      assert.equal(await result.state, 'FAILURE');
    });

    it("a project exception keeps its name and module ('tasks')", async () => {
      const error = await (
        await client.sendTask('tasks.fail_custom', ['acct-3', 9], {}, { queue: queues.py })
      )
        .get({ timeout: '20s' })
        .then(
          () => assert.fail('get() resolved'),
          (e: unknown) => e as TaskFailedError,
        );
      assert.equal(error.excType, 'InsufficientFunds');
      assert.equal(error.excModule, 'tasks');
      assert.equal(error.excMessage, 'account acct-3 is short by 9');
    });

    it('a chain built in Node with steps on Python and Node returns its result to the celeriac client (60)', async () => {
      const nodeStep = (x: number) => new Signature({ task: 'node.multiply', args: [x], options: { queue: queues.node } }, client);
      const result = await (await chain(py('add', 2, 3), nodeStep(4), py('add', 10), nodeStep(2)).applyAsync()).get({ timeout: '20s' });
      assert.equal(result, 60);
    });
  });

  it('a result for a client whose reply queue is gone goes into the queue re-declared as Celery declares it', async () => {
    const replyTo = uniqueName('interop-rpc.gone-client');
    const taskId = uniqueName('task');
    await workerApp.backend.storeResult(
      { task_id: taskId, status: 'SUCCESS', result: 7, traceback: null, children: [], date_done: null },
      { replyTo },
    );
    const connection = await amqp.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      // What the Python client declares when it is back: accepted only if the arguments match.
      const ok = await channel.assertQueue(replyTo, {
        durable: false,
        autoDelete: true,
        arguments: { 'x-expires': RESULT_EXPIRES_S * 1000 },
      });
      assert.equal(ok.messageCount, 1);
      const message = await channel.get(replyTo, { noAck: true });
      assert.ok(message);
      assert.equal(message.properties.correlationId, taskId);
      assert.deepEqual(JSON.parse(message.content.toString('utf8')).result, 7);
      await channel.deleteQueue(replyTo);
      await channel.close();
    } finally {
      await connection.close();
    }
  });

  it('reply queues are declared as Celery declares them: not durable, auto-delete, x-expires = result_expires in ms', async () => {
    // The celeriac client's reply queue exists (it has sent tasks). Declaring it again with
    // Celery's arguments succeeds only if they are the same; RabbitMQ answers 406 otherwise.
    const connection = await amqp.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const refused = new Promise<Error>((resolve) => channel.on('error', resolve));
      const ok = await Promise.race([
        channel.assertQueue(client.oid, { durable: false, autoDelete: true, arguments: { 'x-expires': RESULT_EXPIRES_S * 1000 } }),
        refused.then((error) => assert.fail(`RabbitMQ refused Celery's declaration: ${error.message}`)),
      ]);
      assert.equal(ok.queue, client.oid);
      await channel.close();
    } finally {
      await connection.close();
    }
  });
});
