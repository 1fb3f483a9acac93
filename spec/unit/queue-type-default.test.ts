import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigError, TransportError, type TaskContext } from '../../lib/index.js';
import { resolveConfig, type AppOptions } from '../../lib/app/config.js';
import { deadLetterDeclaration, isQuorumQueue, queueDeclaration } from '../../lib/app/queues.js';
import { DELAY_EXIT_EXCHANGE, delayExchangeDeclarations, delayRoute, delayTierDeclarations } from '../../lib/broker/delay-tiers.js';
import { queueArguments } from '../../lib/broker/amqp/queue-arguments.js';
import { checkQueueIntents } from '../../lib/broker/declaration-intents.js';
import { toDeclareError } from '../../lib/broker/amqp/channel-errors.js';
import { createMemoryTransport } from '../../lib/broker/memory/memory-transport.js';
import { silentLogger } from '../../lib/log/logger.js';
import { memoryApp } from '../support/apps.js';

const refused = (options: AppOptions, option: string, message: RegExp, env: NodeJS.ProcessEnv = {}) =>
  assert.throws(
    () => resolveConfig(options, env),
    (e: unknown) => e instanceof ConfigError && e.option === option && message.test(e.message),
  );

describe('defaultQueueType: config', () => {
  it("defaults to 'classic'; the option wins over $CELERIAC_DEFAULT_QUEUE_TYPE; bad values name the option", () => {
    assert.equal(resolveConfig({}, {}).defaultQueueType, 'classic');
    assert.equal(resolveConfig({}, { CELERIAC_DEFAULT_QUEUE_TYPE: 'quorum' }).defaultQueueType, 'quorum');
    assert.equal(resolveConfig({ defaultQueueType: 'classic' }, { CELERIAC_DEFAULT_QUEUE_TYPE: 'quorum' }).defaultQueueType, 'classic');
    refused({ defaultQueueType: 'stream' as never }, 'defaultQueueType', /expected 'classic' or 'quorum', got "stream"/);
    refused({}, 'defaultQueueType', /\$CELERIAC_DEFAULT_QUEUE_TYPE: expected classic or quorum, got "Quorum"/, {
      CELERIAC_DEFAULT_QUEUE_TYPE: 'Quorum',
    });
  });

  it('priorities with a quorum default are a ConfigError naming the option; a classic queue may still have them', () => {
    refused(
      { defaultQueueType: 'quorum', queueMaxPriority: 10 },
      'queueMaxPriority',
      /defaultQueueType is 'quorum' and quorum queues have none/,
    );
    refused(
      { defaultQueueType: 'quorum', queues: { urgent: { maxPriority: 5 } } },
      'queues.urgent.maxPriority',
      /queue urgent is a quorum queue \(defaultQueueType 'quorum'; give it type: 'classic' to exempt it\).*no priorities/,
    );
    const config = resolveConfig({ defaultQueueType: 'quorum', queues: { urgent: { type: 'classic', maxPriority: 5 } } }, {});
    assert.deepEqual(queueArguments(queueDeclaration('urgent', config)), { 'x-max-priority': 5 });
  });

  it('a delivery limit needs no type of its own under a quorum default', () => {
    const config = resolveConfig({ defaultQueueType: 'quorum', queues: { work: { deliveryLimit: 3 } } }, {});
    assert.deepEqual(queueArguments(queueDeclaration('work', config)), {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 3,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'work.dead-letter',
    });
    refused({ queues: { work: { deliveryLimit: 3 } } }, 'queues.work.deliveryLimit', /needs type: 'quorum'/);
  });
});

describe('defaultQueueType: declarations', () => {
  const quorum = resolveConfig({ defaultQueueType: 'quorum', queues: { old: { type: 'classic' } } }, {});

  it('task queues and dead-letter queues take the default; a per-queue type overrides it, looked up by each name', () => {
    assert.deepEqual(queueDeclaration('tasks', quorum), {
      name: 'tasks',
      durable: true,
      type: 'quorum',
      exchange: 'tasks',
      exchangeType: 'direct',
      routingKey: 'tasks',
    });
    assert.deepEqual(deadLetterDeclaration('tasks', quorum), { name: 'tasks.dead-letter', durable: true, type: 'quorum' });
    assert.equal(queueDeclaration('old', quorum).type, undefined);
    assert.equal(isQuorumQueue('tasks', quorum), true);
    assert.equal(isQuorumQueue('old', quorum), false);
    assert.deepEqual(deadLetterDeclaration('tasks'), { name: 'tasks.dead-letter', durable: true }, 'classic without a config');
  });

  it('quorum delay tiers: names of their own, the same TTLs, at-least-once dead-lettering, the one exit exchange', () => {
    const classic = delayTierDeclarations();
    const tiers = delayTierDeclarations('quorum');
    assert.equal(tiers.length, classic.length);
    const tier = tiers.find((d) => d.name === 'celeriac.delayed.quorum.3.11')!;
    assert.deepEqual(queueArguments(tier), {
      'x-queue-type': 'quorum',
      'x-message-ttl': 11 * 16 ** 3,
      'x-dead-letter-exchange': 'celeriac.delayed.quorum.2',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    assert.equal(tier.exchange, 'celeriac.delayed.quorum.3');
    const level0 = tiers.find((d) => d.name === 'celeriac.delayed.quorum.0.1')!;
    assert.equal(queueArguments(level0)!['x-dead-letter-exchange'], DELAY_EXIT_EXCHANGE);
    assert.ok(
      tiers.every((d) => !classic.some((c) => c.name === d.name)),
      'no name shared with the classic tiers',
    );
    const exchanges = delayExchangeDeclarations('quorum');
    assert.equal(exchanges.at(-1)!.name, DELAY_EXIT_EXCHANGE);
    assert.equal(exchanges.at(-1)!.from!.exchange, 'celeriac.delayed.quorum.0');
    assert.deepEqual(delayRoute(0x5a3, 'q', 'quorum'), { ...delayRoute(0x5a3, 'q'), exchange: 'celeriac.delayed.quorum.2' });
  });

  it('refuses a quorum queue that is exclusive, auto-delete or not durable, and a quorum-only intent on a classic queue', () => {
    const refusedDeclaration = (declaration: Parameters<typeof checkQueueIntents>[0], message: RegExp) =>
      assert.throws(
        () => checkQueueIntents(declaration),
        (e: unknown) => e instanceof ConfigError && message.test(e.message),
      );
    refusedDeclaration(
      { name: 'r', type: 'quorum', exclusive: true, autoDelete: true },
      /queue r: a quorum queue cannot be exclusive or auto-delete/,
    );
    refusedDeclaration({ name: 'r', type: 'quorum', durable: false }, /cannot be not durable/);
    refusedDeclaration({ name: 'c', deadLetterStrategy: 'at-least-once' }, /deadLetterStrategy needs type: 'quorum'/);
    checkQueueIntents({ name: 'reply', durable: false, autoDelete: true });
  });
});

describe('defaultQueueType: a queue that exists with the other type', () => {
  const broker = (current: string, received: string) =>
    Object.assign(
      new Error(
        `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' ` +
          `for queue 'work' in vhost '/': received ${received} but current is ${current}"`,
      ),
      { code: 406 },
    );

  it("AMQP: RabbitMQ's refusal becomes a message naming the queue, both types, the options and the docs", () => {
    const asQuorum = toDeclareError(broker('none', "the value 'quorum' of type 'longstr'"), { name: 'work', type: 'quorum' }, 'amqp://h');
    assert.ok(asQuorum instanceof TransportError);
    assert.equal(asQuorum.reason, 'precondition-failed');
    assert.match(asQuorum.message, /^broker amqp:\/\/h: queue 'work' exists as a classic queue and was declared here as a quorum queue /);
    assert.match(asQuorum.message, /\(the app's defaultQueueType, or queues\['work'\]\.type\).*"Changing a queue's type"/);
    const asClassic = toDeclareError(broker("the value 'quorum' of type 'longstr'", 'none'), { name: 'work' }, 'amqp://h');
    assert.match((asClassic as Error).message, /queue 'work' exists as a quorum queue and was declared here as a classic queue/);
    const otherArgument = Object.assign(new Error("PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue 'work'"), {
      code: 406,
    });
    assert.match(
      (toDeclareError(otherArgument, { name: 'work' }, 'amqp://h') as Error).message,
      /x-max-priority/,
      'other refusals unchanged',
    );
  });

  it('memory:// says the same', async () => {
    const transport = createMemoryTransport(`memory://qtype-${Date.now()}`, {
      heartbeatSeconds: 0,
      confirmTimeoutMs: 1000,
      connectMaxRetries: 0,
      connectInitialDelayMs: 1,
      connectMaxDelayMs: 1,
      logger: silentLogger(),
    });
    await transport.declareQueue({ name: 'work', durable: true });
    await assert.rejects(
      transport.declareQueue({ name: 'work', durable: true, type: 'quorum' }),
      (e: unknown) =>
        e instanceof TransportError &&
        e.reason === 'precondition-failed' &&
        /queue 'work' exists as a classic queue and was declared here as a quorum queue/.test(e.message),
    );
    await transport.close();
  });
});

describe('defaultQueueType quorum on memory://', () => {
  const apps: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  it('tasks run and retries wait in the quorum tiers', async () => {
    const app = memoryApp({ defaultQueueType: 'quorum' });
    const worker = app.worker({ concurrency: 1 });
    apps.push({ close: async () => (await worker.stop(), await app.close()) });
    const counts: (number | undefined)[] = [];
    const flaky = app.task('spec.qdefault.flaky', function (this: TaskContext) {
      counts.push(this.retries);
      if (this.retries < 1) this.retry({ countdown: 20 });
      return 'done';
    });
    await worker.start();
    assert.equal(await (await flaky.delay()).get({ timeout: '10s' }), 'done');
    assert.deepEqual(counts, [0, 1]);
  });
});
