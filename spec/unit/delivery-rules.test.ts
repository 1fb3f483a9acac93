import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp, ConfigError, NonRetryableError, Retry } from '../../lib/index.js';
import { resolveConfig } from '../../lib/app/config.js';
import { queueDeclaration } from '../../lib/app/queues.js';
import { Router } from '../../lib/app/routes.js';
import { DelayedDelivery } from '../../lib/app/delayed-delivery.js';
import type { OutgoingMessage, PublishTarget, Transport } from '../../lib/broker/transport.js';
import {
  DELAY_LEVELS,
  delayExchangeDeclarations,
  delayExitBinding,
  delayRoute,
  delayTierDeclarations,
} from '../../lib/broker/delay-tiers.js';
import { queueArguments } from '../../lib/broker/amqp/queue-arguments.js';
import { backoffMs, decideRetry } from '../../lib/worker/retry-policy.js';
import { parseRate } from '../../lib/app/rate-limit.js';
import { RateLimiter } from '../../lib/worker/rate-limiter.js';
import { timeLimitsOf } from '../../lib/worker/time-limits.js';
import type { TaskHeaders } from '../../lib/protocol/task-message.js';

const attempt = (retries: number) => ({ taskName: 't', taskId: 'id', retries });

describe('delay tiers', () => {
  it('routes a delay by its hex digits, entering at its highest non-zero digit', () => {
    const route = delayRoute(0x5a3, 'q.a');
    assert.equal(route.exchange, 'celeriac.delayed.2');
    assert.equal(route.routingKey, `${'0.'.repeat(DELAY_LEVELS - 3)}5.a.3.q.a`);
    assert.equal(delayRoute(0.2, 'q').delayMs, 1);
    assert.equal(delayRoute(0.2, 'q').exchange, 'celeriac.delayed.0');
    assert.equal(delayRoute(2 ** 40, 'q').exchange, `celeriac.delayed.${DELAY_LEVELS - 1}`);
    assert.equal(delayRoute(2 ** 40, 'q').delayMs, 2 ** 32 - 1);
  });

  it('declares fifteen waiting queues per level, each dead-lettering one level down, and passes digit 0 on by exchange binding', () => {
    const queues = delayTierDeclarations();
    assert.equal(queues.length, DELAY_LEVELS * 15);
    const level3 = queues.find((d) => d.name === 'celeriac.delayed.3.11')!;
    assert.deepEqual(queueArguments(level3), { 'x-message-ttl': 11 * 16 ** 3, 'x-dead-letter-exchange': 'celeriac.delayed.2' });
    assert.equal(level3.exchange, 'celeriac.delayed.3');
    assert.equal(level3.routingKey, `${'*.'.repeat(DELAY_LEVELS - 4)}b.#`);
    const level0 = queues.find((d) => d.name === 'celeriac.delayed.0.1')!;
    assert.deepEqual(queueArguments(level0), { 'x-message-ttl': 1, 'x-dead-letter-exchange': 'celeriac.delayed.exit' });
    const top = `celeriac.delayed.${DELAY_LEVELS - 1}`;
    assert.deepEqual([level3.messageTtl, level3.deadLetterTo], [11 * 16 ** 3, { exchange: 'celeriac.delayed.2' }], 'declared by intent');
    assert.ok(
      queues.every((q) => (queueArguments(q)!['x-message-ttl'] as number) <= 2 ** 32 - 1),
      "every TTL within RabbitMQ's limit",
    );

    const exchanges = delayExchangeDeclarations();
    assert.deepEqual(exchanges[0], { name: top, type: 'topic' });
    assert.deepEqual(exchanges.at(-1), {
      name: 'celeriac.delayed.exit',
      type: 'topic',
      from: { exchange: 'celeriac.delayed.0', routingKey: `${'*.'.repeat(DELAY_LEVELS - 1)}0.#` },
    });
    // Each exchange's source is declared before it.
    exchanges.forEach((exchange, i) => exchange.from && assert.ok(exchanges.slice(0, i).some((e) => e.name === exchange.from!.exchange)));
    assert.equal(delayExitBinding('q.a').routingKey, `${'*.'.repeat(DELAY_LEVELS)}q.a`);
  });

  it('waits exactly the delay: the TTLs of the queues a routing key selects sum to it', () => {
    const queues = delayTierDeclarations();
    const exchanges = delayExchangeDeclarations();
    const matches = (pattern: string, key: string) =>
      new RegExp(`^${pattern.replaceAll('.', '\\.').replaceAll('*', '[^.]+').replace('\\.#', '(\\..*)?')}$`).test(key);
    for (const delay of [1, 15, 16, 17, 255, 4096, 0x10001, 3_600_000, 86_400_000 * 7, 2 ** 32 - 1]) {
      const route = delayRoute(delay, 'q');
      let exchange: string | undefined = route.exchange;
      let waited = 0;
      for (let hops = 0; exchange && exchange !== 'celeriac.delayed.exit'; hops++) {
        assert.ok(hops <= DELAY_LEVELS, `delay ${delay}: too many hops`);
        const queue = queues.find((q) => q.exchange === exchange && matches(q.routingKey!, route.routingKey));
        const passOn = exchanges.find(
          (e) => e.from !== undefined && e.from.exchange === exchange && matches(e.from.routingKey, route.routingKey),
        );
        assert.ok(Boolean(queue) !== Boolean(passOn), `delay ${delay}: exactly one way out of ${exchange}`);
        if (queue) waited += queueArguments(queue)!['x-message-ttl'] as number;
        exchange = queue ? (queueArguments(queue)!['x-dead-letter-exchange'] as string) : passOn!.name;
      }
      assert.equal(waited, delay);
    }
  });
});

describe('delayed delivery', () => {
  it('computes the route when the message is written: time spent waiting to be written is taken off the delay', async () => {
    const realNow = Date.now;
    let now = 1_000_000;
    Date.now = () => now;
    try {
      const written: Array<{ exchange: string; routingKey: string }> = [];
      const transport = {
        declareQueue: async () => undefined,
        declareExchange: async () => undefined,
        publish: async (_message: OutgoingMessage, target: PublishTarget) => {
          now += 300; // queued behind other publishes
          written.push(target.routeAtWrite!());
          now += 50; // a lost channel, then written again
          written.push(target.routeAtWrite!());
        },
      } as unknown as Transport;
      const delayed = new DelayedDelivery(
        () => transport,
        (queue) => ({ name: queue }),
      );
      await delayed.publish({ body: Buffer.from('[]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {} }, 'q', 500);
      const routeOf = ({ exchange, routingKey }: { exchange: string; routingKey: string }) => ({ exchange, routingKey });
      assert.deepEqual(written.map(routeOf), [routeOf(delayRoute(200, 'q')), routeOf(delayRoute(150, 'q'))]);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('retry policy', () => {
  it('a Retry signal retries after its countdown and fails past maxRetries with exc or MaxRetriesExceededError', () => {
    const exc = new RangeError('x');
    assert.deepEqual(decideRetry({}, attempt(0), new Retry({ countdown: 250, exc })), { retry: true, delayMs: 250, error: exc });
    assert.deepEqual(decideRetry({ maxRetries: 2 }, attempt(2), new Retry({ exc })), { retry: false, error: exc });
    const exceeded = decideRetry({ maxRetries: 2 }, attempt(2), new Retry());
    assert.equal(exceeded.retry, false);
    assert.equal((exceeded.error as Error).name, 'MaxRetriesExceededError');
    assert.equal(decideRetry({ maxRetries: null }, attempt(1000), new Retry({ countdown: 1 })).retry, true);
    assert.equal(decideRetry({ maxRetries: 0 }, attempt(0), new Retry({ countdown: 1, maxRetries: 1 })).retry, true);
  });

  it('autoretryFor matches classes or a predicate; NonRetryableError and other errors fail', () => {
    const options = { autoretryFor: [TypeError], defaultRetryDelay: 100 };
    assert.deepEqual(decideRetry(options, attempt(0), new TypeError('t')).retry, true);
    assert.equal(decideRetry(options, attempt(0), new RangeError('r')).retry, false);
    assert.equal(decideRetry({ autoretryFor: () => true }, attempt(0), new NonRetryableError('no')).retry, false);
    assert.equal(decideRetry(options, attempt(3), new TypeError('t')).retry, false);
  });

  it('backs off exponentially with a cap, with full jitter unless disabled', () => {
    assert.equal(backoffMs({ retryBackoff: true, retryJitter: false }, 3), 8000);
    assert.equal(backoffMs({ retryBackoff: '1s', retryBackoffMax: '5s', retryJitter: false }, 10), 5000);
    assert.equal(
      backoffMs({ retryBackoff: 100 }, 2, () => 0.5),
      200,
    );
    assert.equal(
      backoffMs({ retryBackoff: 100 }, 2, () => 0),
      0,
    );
    assert.equal(backoffMs({}, 5), 180_000);
  });
});

describe('rate limits', () => {
  it('parses rates and rejects nonsense', () => {
    assert.equal(parseRate('100/s'), 0.1);
    assert.equal(parseRate('60/m'), 0.001);
    assert.equal(parseRate(2), 0.002);
    assert.throws(() => parseRate('fast'), ConfigError);
    assert.throws(() => parseRate('0/s'), ConfigError);
  });

  it('spaces starts of one task evenly and leaves other tasks alone', () => {
    const limiter = new RateLimiter((name) => (name === 'slow' ? parseRate('10/s') : undefined));
    assert.equal(limiter.take('slow', 1000), true);
    assert.equal(limiter.take('slow', 1050), false);
    assert.equal(limiter.waitMs('slow', 1050), 50);
    assert.equal(limiter.take('other', 1050), true);
    assert.equal(limiter.take('slow', 1100), true);
  });

  it('a rate changed at run time applies to the spacing from the last start at once; a rate removed frees the task', () => {
    let rate: number | undefined = parseRate('1/h');
    const limiter = new RateLimiter(() => rate);
    assert.equal(limiter.take('t', 0), true);
    assert.equal(limiter.take('t', 1000), false, 'an hour apart at 1/h');
    rate = parseRate('10/s');
    assert.equal(limiter.waitMs('t', 50), 50, 'measured at the new rate from the start at 0');
    assert.equal(limiter.take('t', 100), true);
    rate = undefined;
    assert.equal(limiter.waitMs('t', 101), 0);
    assert.equal(limiter.take('t', 101), true, 'no limit: starts now');
  });
});

describe('time limits', () => {
  const headers = (timelimit: readonly [number | null, number | null]) => ({ timelimit }) as TaskHeaders;
  it('the timelimit header [hard, soft] in seconds wins over task options, field by field', () => {
    assert.deepEqual(timeLimitsOf(headers([2, null]), { timeLimit: '10s', softTimeLimit: '1s' }), { hardMs: 2000, softMs: 1000 });
    assert.deepEqual(timeLimitsOf(headers([null, null]), {}), { hardMs: null, softMs: null });
  });

  it('producers put call and task limits in the header in seconds', () => {
    const app = createApp({ broker: 'memory://rules', backend: null });
    const task = app.task('rules.limited', () => 1, { softTimeLimit: '30s' });
    const message = app.producer.build(task.name, [], {}, { timeLimit: 1500 }, task.options);
    assert.deepEqual(message.headers.timelimit, [1.5, 30]);
  });
});

describe('routing and queues', () => {
  it('matches exact names and globs in order; functions too', () => {
    const router = new Router([
      { 'a.exact': { queue: 'one' }, 'a.*': { queue: 'two' } },
      (name) => (name.startsWith('b.') ? { queue: 'three' } : undefined),
    ]);
    assert.equal(router.route('a.exact')?.queue, 'one');
    assert.equal(router.route('a.b.c')?.queue, 'two');
    assert.equal(router.route('b.x')?.queue, 'three');
    assert.equal(router.route('c'), undefined);
    assert.throws(() => new Router({ x: { queue: 'q', colour: 'red' } as never }), /unknown route key colour/);
  });

  it('queues get x-max-priority only when configured (Celery-compatible by default)', () => {
    assert.equal(queueArguments(queueDeclaration('celery', resolveConfig({}))), undefined);
    assert.deepEqual(queueArguments(queueDeclaration('celery', resolveConfig({ queueMaxPriority: 10 }))), { 'x-max-priority': 10 });
    const perQueue = resolveConfig({ queueMaxPriority: 10, queues: { plain: { maxPriority: null } } });
    assert.equal(queueArguments(queueDeclaration('plain', perQueue)), undefined);
    assert.throws(() => resolveConfig({ queueMaxPriority: 0 }), ConfigError);
  });

  it('quorum queues: x-queue-type, optional x-delivery-limit dead-lettering to <queue>.dead-letter, never a priority', () => {
    const config = resolveConfig({
      queueMaxPriority: 10,
      queues: {
        q: { type: 'quorum', maxPriority: null },
        limited: { type: 'quorum', deliveryLimit: 5, maxPriority: null },
        c: { type: 'classic' },
      },
    });
    assert.deepEqual(queueArguments(queueDeclaration('q', config)), { 'x-queue-type': 'quorum' });
    assert.equal(queueDeclaration('q', config).durable, true);
    assert.deepEqual(queueArguments(queueDeclaration('limited', config)), {
      'x-queue-type': 'quorum',
      'x-delivery-limit': 5,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'limited.dead-letter',
    });
    assert.deepEqual(queueArguments(queueDeclaration('c', config)), { 'x-max-priority': 10 });
    const refused = (options: Parameters<typeof resolveConfig>[0], option: string, message: RegExp) =>
      assert.throws(
        () => resolveConfig(options),
        (e: unknown) => e instanceof ConfigError && e.option === option && message.test(e.message),
      );
    refused(
      { queues: { urgent: { type: 'quorum', maxPriority: 10 } } },
      'queues.urgent.maxPriority',
      /queue urgent is a quorum queue.*no priorities/,
    );
    refused(
      { queueMaxPriority: 10, queues: { urgent: { type: 'quorum' } } },
      'queues.urgent.maxPriority',
      /queueMaxPriority 10 .*set queues\.urgent\.maxPriority to null/,
    );
    refused({ queues: { q: { deliveryLimit: 3 } } }, 'queues.q.deliveryLimit', /needs type: 'quorum'/);
    refused({ queues: { q: { type: 'quorum', deliveryLimit: -1 } } }, 'queues.q.deliveryLimit', /non-negative integer/);
    refused({ queues: { q: { type: 'stream' as never } } }, 'queues.q.type', /'classic' or 'quorum'/);
    refused({ queues: { q: { durable: false } as never } }, 'queues.q.durable', /known: maxPriority, type, deliveryLimit/);
  });

  it('rejects bad task options by name', () => {
    const app = createApp({ broker: 'memory://rules2', backend: null });
    assert.throws(() => app.task('bad.rate', () => 1, { rateLimit: 'lots' }), /rateLimit/);
    assert.throws(() => app.task('bad.retries', () => 1, { maxRetries: -1 }), /maxRetries/);
    assert.throws(() => app.task('bad.limit', () => 1, { timeLimit: 'soon' }), /timeLimit/);
  });
});
