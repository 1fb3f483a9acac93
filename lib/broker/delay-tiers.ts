import type { QueueDeclaration } from './transport.js';

/**
 * Broker-side delays without plugins: binary dead-letter tiers (the design of Celery 5.5's
 * "native delayed delivery", in milliseconds and without exchange-to-exchange bindings).
 *
 * Topology, for every level k in 0..LEVELS-1:
 * - topic exchange `celeriac.delay.<k>`;
 * - queue `celeriac.delay.<k>` with x-message-ttl = 2^k ms, bound to exchange k where the
 *   routing key's bit k is 1 ("wait 2^k ms here");
 * - queue `celeriac.delay.<k>.skip` with x-message-ttl = 0, bound to exchange k where bit k
 *   is 0 ("pass straight on");
 * - both dead-letter into exchange k-1, and level 0 into the topic exchange `celeriac.delay.exit`,
 *   where each target queue Q is bound by exactly LEVELS bit words followed by Q's name.
 *
 * A delayed message is published to exchange m (m = the highest set bit of the delay) with
 * routing key "<bit LEVELS-1>.<...>.<bit 0>.<target queue>". It then waits in exactly the
 * queues of its set bits, in turn, and reaches the target after the sum of their TTLs = the
 * delay (plus a sub-millisecond dead-letter hop per level). Invariants that make this correct:
 * every queue of one tier has one fixed TTL, so messages expire in FIFO order at its head
 * (per-message TTL only expires at the head); the routing key never changes while dead-lettering
 * (no x-dead-letter-routing-key); messages in the tiers carry no per-message `expiration`
 * (that would cut a tier short); and every exchange a tier dead-letters into is declared before
 * any delayed publish (a missing DLX drops messages silently).
 *
 * The task queues themselves get no arguments: a target only gets one more binding (from the
 * exit exchange), so Python Celery can still declare and use them.
 */

/** Levels 0..31: delays up to 2^32 - 1 ms (about 49.7 days); RabbitMQ's TTL limit is 2^32 - 1. */
export const DELAY_LEVELS = 32;
export const MAX_TIER_DELAY_MS = 2 ** DELAY_LEVELS - 1;
export const DELAY_EXIT_EXCHANGE = 'celeriac.delay.exit';

export function tierExchange(level: number): string {
  return `celeriac.delay.${level}`;
}

/** The queues (and bindings) of every tier, highest first; declare them all before publishing. */
export function delayTierDeclarations(): QueueDeclaration[] {
  const declarations: QueueDeclaration[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    const next = level === 0 ? DELAY_EXIT_EXCHANGE : tierExchange(level - 1);
    const prefix = '*.'.repeat(DELAY_LEVELS - 1 - level);
    for (const [suffix, bit, ttl] of [['', '1', 2 ** level], ['.skip', '0', 0]] as const) {
      declarations.push({
        name: `${tierExchange(level)}${suffix}`,
        durable: true,
        arguments: { 'x-message-ttl': ttl, 'x-dead-letter-exchange': next },
        exchange: tierExchange(level),
        exchangeType: 'topic',
        routingKey: `${prefix}${bit}.#`,
      });
    }
  }
  return declarations;
}

/** The extra binding a target queue needs to receive delayed messages. */
export function delayExitBinding(queue: string): QueueDeclaration {
  return { name: queue, durable: true, exchange: DELAY_EXIT_EXCHANGE, exchangeType: 'topic', routingKey: `${'*.'.repeat(DELAY_LEVELS)}${queue}` };
}

/**
 * Where to publish a message that must reach `queue` after `delayMs` (rounded to whole ms,
 * clamped to 1..MAX_TIER_DELAY_MS: a longer delay arrives early and the worker sends it round
 * again). Returns the tier exchange and the routing key carrying the delay's bits.
 */
export function delayRoute(delayMs: number, queue: string): { exchange: string; routingKey: string; delayMs: number } {
  const delay = Math.min(MAX_TIER_DELAY_MS, Math.max(1, Math.round(delayMs)));
  const bits = delay.toString(2).padStart(DELAY_LEVELS, '0');
  const highest = DELAY_LEVELS - 1 - bits.indexOf('1');
  return { exchange: tierExchange(highest), routingKey: `${bits.split('').join('.')}.${queue}`, delayMs: delay };
}
