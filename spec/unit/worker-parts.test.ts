import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { hostname as osHostname } from 'node:os';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../lib/app/config.js';
import { Task } from '../../lib/app/task.js';
import type { Delivery } from '../../lib/broker/transport.js';
import type { CanvasHost } from '../../lib/canvas/canvas-node.js';
import { ConfigError, InvalidMessageError } from '../../lib/errors/errors.js';
import { encodeTaskMessage, type TaskMessage } from '../../lib/protocol/task-message.js';
import { EtaScheduler, HOLD_LIMIT_MS } from '../../lib/worker/eta-scheduler.js';
import type { WorkerEvents } from '../../lib/worker/events.js';
import { expandHostname, resolveWorkerOptions, WORKER_OPTION_KEYS } from '../../lib/worker/options.js';
import { RedeliveryPolicy, type RedeliveryHost } from '../../lib/worker/redelivery-policy.js';
import { TaskRequest, type RequestOutcome } from '../../lib/worker/request.js';
import { DeliveryStrategy } from '../../lib/worker/strategy.js';
import { logTaskLines } from '../../lib/worker/task-log.js';
import { captureLogger } from '../support/capture-logger.js';

const noHost = {} as CanvasHost;
const config = resolveConfig({
  broker: 'memory://parts',
  backend: null,
  defaultQueue: 'spec.parts',
  logLevel: 'silent',
  queues: { 'spec.quorum': { type: 'quorum' } },
});
const silent = captureLogger().logger;

function message(task: string, headers: Partial<TaskMessage['headers']> = {}): TaskMessage {
  const id = `id-${Math.random().toString(36).slice(2)}`;
  return {
    headers: {
      lang: 'js',
      task,
      id,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: id,
      parent_id: null,
      argsrepr: '()',
      kwargsrepr: '{}',
      origin: 'spec',
      ignore_result: false,
      ...headers,
    },
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
  };
}

/** A delivery of `msg` (or of raw bytes) that records how it was settled. */
function delivery(
  msg: TaskMessage | Buffer,
  extra: Partial<Pick<Delivery, 'queue' | 'redelivered' | 'deliveryCount'>> = {},
): Delivery & { settled: string[] } {
  const outgoing = Buffer.isBuffer(msg)
    ? { body: msg, contentType: 'application/json', contentEncoding: 'utf-8', headers: {} }
    : encodeTaskMessage(msg, 'json');
  const { body, ...properties } = outgoing;
  const settled: string[] = [];
  return {
    body,
    properties,
    exchange: '',
    routingKey: extra.queue ?? 'spec.parts',
    queue: extra.queue ?? 'spec.parts',
    redelivered: extra.redelivered ?? false,
    ...(extra.deliveryCount === undefined ? {} : { deliveryCount: extra.deliveryCount }),
    settled,
    ack: () => (settled.push('ack'), true),
    reject: (requeue) => (settled.push(requeue ? 'requeue' : 'drop'), true),
  };
}

function request(name: string, extra: Partial<Pick<Delivery, 'queue' | 'redelivered' | 'deliveryCount'>> = {}): TaskRequest {
  const msg = message(name);
  return new TaskRequest(delivery(msg, extra), msg, new Task(noHost, name, () => undefined));
}

describe('worker options (options.ts)', () => {
  const host = { config, logger: silent };

  it('lists every WorkerOptions key, and an unknown one is refused with that list', () => {
    assert.deepEqual(WORKER_OPTION_KEYS, [
      'concurrency',
      'prefetchMultiplier',
      'queues',
      'hostname',
      'shutdownTimeout',
      'resultStoreRetryDelays',
      'logger',
      'pool',
      'appModule',
      'maxRedeliveries',
      'maxMessageSize',
      'timeLimit',
      'softTimeLimit',
      'maxTasksPerChild',
      'maxMemoryPerChild',
      'autoscale',
    ]);
    assert.throws(
      () => resolveWorkerOptions({ concurency: 2 } as never, host),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.option === 'concurency' &&
        e.message === `concurency: unknown worker option; known: ${WORKER_OPTION_KEYS.join(', ')}`,
    );
    assert.throws(
      () => resolveWorkerOptions(JSON.parse('{"__proto__": 1}') as never, host),
      (e: unknown) => e instanceof ConfigError && e.option === '__proto__',
    );
  });

  it("fills in the defaults from the host's config, durations in milliseconds", () => {
    const settings = resolveWorkerOptions({}, { config: { ...config, concurrency: 3, prefetchMultiplier: 5 }, logger: silent });
    assert.equal(settings.concurrency, 3);
    assert.equal(settings.prefetch.multiplier, 5);
    assert.equal(settings.prefetch.prefetchFor(3), 15);
    assert.deepEqual(settings.queues, ['spec.parts']);
    assert.equal(settings.hostname, `celeriac@${osHostname()}`);
    assert.equal(settings.shutdownTimeoutMs, 30_000);
    assert.equal(settings.maxRedeliveries, 10);
    assert.equal(settings.maxMessageSize, 64 * 1024 * 1024);
    assert.deepEqual(settings.storeRetryDelaysMs, [200, 1000, 3000]);
    assert.equal(settings.pool, 'async');
  });

  it('checks each value, naming the option', () => {
    for (const [options, option] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ prefetchMultiplier: 1.5 }, 'prefetchMultiplier'],
      [{ shutdownTimeout: 'soon' }, 'shutdownTimeout'],
      [{ maxRedeliveries: -1 }, 'maxRedeliveries'],
      [{ maxMessageSize: 0 }, 'maxMessageSize'],
      [{ resultStoreRetryDelays: ['1s', 'later'] }, 'resultStoreRetryDelays'],
    ] as const) {
      assert.throws(
        () => resolveWorkerOptions(options as never, host),
        (e: unknown) => e instanceof ConfigError && e.option === option,
        option,
      );
    }
    const unlimited = resolveWorkerOptions({ maxRedeliveries: null, maxMessageSize: null, queues: ['a', 'b'] }, host);
    assert.equal(unlimited.maxRedeliveries, null);
    assert.equal(unlimited.maxMessageSize, null);
    assert.deepEqual(unlimited.queues, ['a', 'b']);
  });

  it('expands %h, %n and %d in the node name', () => {
    const host = osHostname();
    const dot = host.indexOf('.');
    assert.equal(expandHostname('w@%h'), `w@${host}`);
    assert.equal(expandHostname('%n|%d'), dot === -1 ? `${host}|` : `${host.slice(0, dot)}|${host.slice(dot + 1)}`);
  });
});

describe('the redelivery policy (redelivery-policy.ts)', () => {
  /** A backend that counts starts in a map, or fails when `failing`. */
  function countingHost(failing = false): RedeliveryHost & { counts: Map<string, number> } {
    const counts = new Map<string, number>();
    const backend = {
      async countRedeliveredStarts(taskId: string, add: number): Promise<number> {
        if (failing) throw new Error('store down');
        const count = (counts.get(taskId) ?? 0) + add;
        counts.set(taskId, count);
        return count;
      },
    };
    return { config, hasBackend: true, backend: backend as never, counts };
  }

  it("refuses on arrival a quorum-queue delivery whose broker count is past the limit; other queues' counts are not trusted", () => {
    const policy = new RedeliveryPolicy(countingHost(), 2, silent);
    const msg = message('spec.t');
    assert.equal(policy.arrivalVerdict(delivery(msg, { queue: 'spec.quorum', deliveryCount: 2 })), null);
    const verdict = policy.arrivalVerdict(delivery(msg, { queue: 'spec.quorum', deliveryCount: 3 }));
    assert.equal(verdict?.reason, 'redelivery-limit');
    assert.equal(
      verdict?.error.message,
      'delivered 4 times (delivery count 3, limit 2): every worker that took it died, hung, lost its connection or returned it',
    );
    assert.equal(
      policy.arrivalVerdict(delivery(msg, { queue: 'spec.parts', deliveryCount: 30 })),
      null,
      'a classic queue: its count is not read',
    );
    assert.equal(
      new RedeliveryPolicy(countingHost(), null, silent).arrivalVerdict(delivery(msg, { queue: 'spec.quorum', deliveryCount: 99 })),
      null,
      'no limit',
    );
  });

  it('counts starts in the backend only for redelivered messages on queues the broker does not count', () => {
    const policy = new RedeliveryPolicy(countingHost(), 2, silent);
    assert.equal(policy.countsStarts(request('spec.t', { redelivered: true })), true);
    assert.equal(policy.countsStarts(request('spec.t', { redelivered: false })), false);
    assert.equal(policy.countsStarts(request('spec.t', { redelivered: true, queue: 'spec.quorum', deliveryCount: 1 })), false);
    assert.equal(new RedeliveryPolicy(countingHost(), null, silent).countsStarts(request('spec.t', { redelivered: true })), false);
    assert.equal(
      new RedeliveryPolicy({ config, hasBackend: false, backend: undefined as never }, 2, silent).countsStarts(
        request('spec.t', { redelivered: true }),
      ),
      false,
    );
    assert.equal(
      new RedeliveryPolicy({ config, hasBackend: true, backend: {} as never }, 2, silent).countsStarts(
        request('spec.t', { redelivered: true }),
      ),
      false,
      'a backend that does not count (rpc://)',
    );
  });

  it('refuses a start past the limit, and makes a request with earlier starts a suspect', async () => {
    const host = countingHost();
    const policy = new RedeliveryPolicy(host, 2, silent);
    const fresh = request('spec.fresh', { redelivered: true });
    await policy.learnEarlierStarts(fresh);
    assert.equal(policy.mayStart(fresh, undefined), true, 'no earlier starts: not a suspect');
    const poison = request('spec.poison', { redelivered: true });
    host.counts.set(poison.id, 2);
    await policy.learnEarlierStarts(poison);
    assert.equal(policy.mayStart(poison, undefined), false, 'a suspect waits for the suspect slot');
    assert.equal(policy.nextSuspect([fresh, poison]), poison);
    assert.equal(policy.mayStart(poison, poison), true);
    policy.suspectStarted(poison);
    assert.equal(policy.nextSuspect([poison]), undefined, 'one suspect at a time');
    policy.finished(poison);
    const verdict = await policy.startVerdict(poison);
    assert.equal(verdict?.reason, 'redelivery-limit');
    assert.equal(
      verdict?.error.message,
      'started 3 times on redelivered messages (limit 2): every worker running it died, hung or lost its connection',
    );
    assert.equal(await policy.startVerdict(fresh), null);
  });

  it('runs the task when the backend cannot count, with a warning', async () => {
    const { logger, lines } = captureLogger();
    const policy = new RedeliveryPolicy(countingHost(true), 0, logger);
    const r = request('spec.t', { redelivered: true });
    await policy.learnEarlierStarts(r);
    assert.equal(policy.mayStart(r, undefined), true);
    assert.equal(await policy.startVerdict(r), null);
    assert.ok(
      lines.includes(`warn: Task spec.t[${r.id}] redelivered; its start count is unavailable (store down); running it`),
      lines.join('\n'),
    );
  });
});

describe('admitting a delivery (strategy.ts)', () => {
  function strategy(options: { maxMessageSize?: number | null; policy?: RedeliveryPolicy } = {}) {
    const tasks = new Map([['spec.known', new Task(noHost, 'spec.known', () => 1) as unknown as Task<never[]>]]);
    const events: string[] = [];
    const refused: Array<[string, string]> = [];
    const deferred: string[] = [];
    const scheduler = new EtaScheduler(
      { transport: {} as never, delayedDelivery: { publish: async () => void deferred.push('tiers') } },
      silent,
      {
        due: (r) => events.push(`due ${r.name}`),
        isRunning: () => true,
        deferred: (r) => events.push(`deferred ${r.name}`),
      },
    );
    const policy = options.policy ?? new RedeliveryPolicy({ config, hasBackend: false, backend: undefined as never }, 10, silent);
    const admit = new DeliveryStrategy(
      { config, tasks },
      options.maxMessageSize === undefined ? 1024 : options.maxMessageSize,
      policy,
      scheduler,
      {
        received: (r) => events.push(`received ${r.name}`),
        ready: (r) => events.push(`ready ${r.name}`),
        isRunning: () => true,
        refuse: (_d, error, reason = error instanceof InvalidMessageError ? error.reason : 'decode') =>
          refused.push([reason, (error as Error).message]),
      },
    );
    return { admit, events, refused, scheduler };
  }

  it('a runnable task due now is received, then ready', () => {
    const { admit, events, refused } = strategy();
    admit.admit(delivery(message('spec.known')));
    assert.deepEqual(events, ['received spec.known', 'ready spec.known']);
    assert.deepEqual(refused, []);
  });

  it('refuses what may not run, with its reason, before it is received', () => {
    const { admit, events, refused } = strategy({ maxMessageSize: 1000 });
    admit.admit(delivery(Buffer.alloc(1001, 0x20)));
    admit.admit(delivery(message('spec.unknown')));
    admit.admit(delivery(Buffer.from('{not json')));
    assert.deepEqual(refused, [
      ['too-large', "body of 1001 bytes exceeds the worker's maxMessageSize of 1000 bytes"],
      ['unknown-task', 'task "spec.unknown" is not registered on this worker'],
      ['decode', refused[2][1]],
    ]);
    assert.deepEqual(events, []);
  });

  it('holds a task due within HOLD_LIMIT_MS, and sends one due later to the delay tiers', async () => {
    const { admit, events, scheduler } = strategy();
    admit.admit(delivery(message('spec.known', { eta: new Date(Date.now() + HOLD_LIMIT_MS / 2).toISOString() })));
    assert.deepEqual(events, ['received spec.known']);
    assert.equal(scheduler.size, 1, 'held');
    const far = delivery(message('spec.known', { eta: new Date(Date.now() + 60_000).toISOString() }));
    admit.admit(far);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['received spec.known', 'received spec.known', 'deferred spec.known']);
    assert.deepEqual(far.settled, ['ack']);
    scheduler.requeueAll();
  });

  it('a quorum delivery past the limit is refused after it was received', () => {
    const { admit, events, refused } = strategy({
      policy: new RedeliveryPolicy({ config, hasBackend: false, backend: undefined as never }, 1, silent),
    });
    admit.admit(delivery(message('spec.known'), { queue: 'spec.quorum', deliveryCount: 2 }));
    assert.deepEqual(events, ['received spec.known']);
    assert.equal(refused[0]?.[0], 'redelivery-limit');
  });
});

describe('the task log lines (task-log.ts)', () => {
  const r = request('spec.logged');
  const outcomes: RequestOutcome[] = [
    { state: 'SUCCESS', result: { n: 1 }, runtimeMs: 1500 },
    { state: 'FAILURE', error: new RangeError('bad'), runtimeMs: 1 },
    { state: 'RETRY', error: new Error('again'), delayMs: 250, runtimeMs: 1 },
    { state: 'REVOKED', reason: 'revoked' },
    { state: 'REQUEUED', error: new Error('outage') },
  ];

  it("writes the received line and each outcome's line from the worker's events", () => {
    const { logger, lines } = captureLogger();
    const worker = new EventEmitter<WorkerEvents>();
    logTaskLines(worker, logger);
    worker.emit('task-received', r);
    for (const outcome of outcomes) worker.emit('task-done', r, outcome);
    assert.deepEqual(lines, [
      `info: Task spec.logged[${r.id}] received`,
      `info: Task spec.logged[${r.id}] succeeded in 1.500000s: {"n":1}`,
      `error: Task spec.logged[${r.id}] raised unexpected: RangeError: bad`,
      `info: Task spec.logged[${r.id}] retry in 250 ms: Error: again`,
    ]);
  });

  it('writes no received or success line below info, and the failure line still', () => {
    const { logger, lines } = captureLogger();
    logger.level = 'warn';
    const worker = new EventEmitter<WorkerEvents>();
    logTaskLines(worker, logger);
    worker.emit('task-received', r);
    worker.emit('task-done', r, outcomes[0]);
    worker.emit('task-done', r, outcomes[1]);
    assert.deepEqual(lines, [`error: Task spec.logged[${r.id}] raised unexpected: RangeError: bad`]);
  });
});

describe('a task rate limit (Task.setRateLimit)', () => {
  it('is parsed once, when the task is made or its rate changes; a bad rate changes nothing', () => {
    const task = new Task(noHost, 'spec.rated', () => 1, { rateLimit: '10/s' });
    assert.equal(task.startsPerMs, 0.01);
    task.setRateLimit(120);
    assert.equal(task.options.rateLimit, 120);
    assert.equal(task.startsPerMs, 0.12);
    assert.throws(
      () => task.setRateLimit('lots'),
      (e: unknown) => e instanceof ConfigError && e.option === 'rateLimit',
    );
    assert.equal(task.options.rateLimit, 120);
    assert.equal(task.startsPerMs, 0.12);
    task.setRateLimit(null);
    assert.equal('rateLimit' in task.options, false);
    assert.equal(task.startsPerMs, undefined);
    assert.throws(() => new Task(noHost, 'spec.bad', () => 1, { rateLimit: '0/s' }), ConfigError);
  });

  it('keeps its own copy of the options', () => {
    const options = { rateLimit: '1/s' };
    const task = new Task(noHost, 'spec.copy', () => 1, options);
    task.setRateLimit('2/s');
    assert.equal(options.rateLimit, '1/s');
  });
});
