import type { ExchangeDeclaration, QueueDeclaration, QueueType } from './transport.js';

/**
 * Broker-side delays without plugins: hexadecimal dead-letter tiers (after Celery 5.5's "native
 * delayed delivery", in milliseconds and with sixteen values per level instead of two, so a
 * message waits in at most 8 queues instead of up to 32).
 *
 * Topology, for every level k in 0..LEVELS-1 (level k counts units of 16^k ms):
 * - topic exchange `celeriac.delayed.<k>`;
 * - for every digit v in 1..15, queue `celeriac.delayed.<k>.<v>` with a message TTL of v·16^k ms,
 *   bound to exchange k where the routing key's digit k is v ("wait v·16^k ms here"), and
 *   dead-lettering into exchange k-1 (level 0: into the topic exchange `celeriac.delayed.exit`);
 * - an exchange-to-exchange binding from exchange k to exchange k-1 (level 0: to the exit
 *   exchange) where digit k is 0: the message passes on at once, without a queue;
 * - each target queue Q is bound to the exit exchange by LEVELS digit words followed by Q's name.
 *
 * A delayed message is published to exchange m (m = the level of the delay's highest non-zero
 * digit) with routing key "<digit LEVELS-1>.<...>.<digit 0>.<target queue>" (hex digits). It
 * waits in one queue per non-zero digit, in turn, and reaches the target after the sum of their
 * TTLs = the delay (plus a sub-millisecond dead-letter hop per queue). Invariants that make this
 * correct: every tier queue has one fixed TTL, so messages expire in FIFO order at its head
 * (per-message TTL only expires at the head); the routing key never changes while
 * dead-lettering (deadLetterTo names no routing key); messages in the tiers carry no per-message
 * `expiration` (that would cut a tier short); and every exchange a tier dead-letters or passes
 * into is declared before any delayed publish (a missing DLX drops messages silently).
 *
 * The task queues themselves get no intents of their own: a target only gets one more binding (from the
 * exit exchange), so Python Celery can still declare and use them.
 *
 * Two sets of tiers, by queue type (an app's `defaultQueueType`): classic tiers under
 * `celeriac.delayed.<k>`, quorum tiers under `celeriac.delayed.quorum.<k>` (queues
 * `celeriac.delayed.quorum.<k>.<v>`), both leaving through the one exit exchange. Apart, because
 * RabbitMQ keeps a queue's type: apps of both types can share a virtual host, and one that changes
 * its type finds its new tiers ready while the old ones drain by themselves. RabbitMQ 3.10's
 * quorum queues keep what the tiers rely on: a fixed `x-message-ttl` expires messages at the head
 * in order, and an expired message is dead-lettered through `x-dead-letter-exchange` with its
 * routing key. Quorum tiers dead-letter at-least-once (as Celery 5.5's quorum tiers do): a message
 * stays in its tier until the next hop's queue confirmed it, so a leader moving during the hop
 * or a target with no binding yet delays it instead of dropping it.
 */

/** Levels 0..7 of 16 values: delays up to 16^8 - 1 = 2^32 - 1 ms (about 49.7 days), RabbitMQ's TTL limit. */
export const DELAY_LEVELS = 8;
const RADIX = 16;
export const MAX_TIER_DELAY_MS = RADIX ** DELAY_LEVELS - 1;
export const DELAY_EXIT_EXCHANGE = 'celeriac.delayed.exit';

/** The exchange of level k of the tiers of one queue type. */
export function tierExchange(level: number, type: QueueType = 'classic'): string {
  return type === 'quorum' ? `celeriac.delayed.quorum.${level}` : `celeriac.delayed.${level}`;
}

/** Where level k passes a message on: the exchange of level k-1, or the exit exchange. */
function nextExchange(level: number, type: QueueType): string {
  return level === 0 ? DELAY_EXIT_EXCHANGE : tierExchange(level - 1, type);
}

/** The binding key that selects digit `digit` at `level` (the key lists the highest level first). */
function digitPattern(level: number, digit: number): string {
  return `${'*.'.repeat(DELAY_LEVELS - 1 - level)}${digit.toString(RADIX)}.#`;
}

/**
 * The tier exchanges, highest level first, then the exit exchange; each but the first is bound
 * to the one before it for digit 0. Declare them in this order (a binding's source must exist).
 */
export function delayExchangeDeclarations(type: QueueType = 'classic'): ExchangeDeclaration[] {
  const declarations: ExchangeDeclaration[] = [{ name: tierExchange(DELAY_LEVELS - 1, type), type: 'topic' }];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    declarations.push({
      name: nextExchange(level, type),
      type: 'topic',
      from: { exchange: tierExchange(level, type), routingKey: digitPattern(level, 0) },
    });
  }
  return declarations;
}

/** The tier queues (15 per level), each bound to its level's exchange; declare them after the exchanges. */
export function delayTierDeclarations(type: QueueType = 'classic'): QueueDeclaration[] {
  const declarations: QueueDeclaration[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    for (let digit = 1; digit < RADIX; digit++) {
      declarations.push({
        name: `${tierExchange(level, type)}.${digit}`,
        durable: true,
        ...(type === 'quorum' ? { type, deadLetterStrategy: 'at-least-once' as const } : {}),
        messageTtl: digit * RADIX ** level,
        deadLetterTo: { exchange: nextExchange(level, type) },
        exchange: tierExchange(level, type),
        exchangeType: 'topic',
        routingKey: digitPattern(level, digit),
      });
    }
  }
  return declarations;
}

/** The extra binding a target queue needs to receive delayed messages. */
export function delayExitBinding(queue: string): QueueDeclaration {
  return {
    name: queue,
    durable: true,
    exchange: DELAY_EXIT_EXCHANGE,
    exchangeType: 'topic',
    routingKey: `${'*.'.repeat(DELAY_LEVELS)}${queue}`,
  };
}

/**
 * Where to publish a message that must reach `queue` after `delayMs` (rounded to whole ms,
 * clamped to 1..MAX_TIER_DELAY_MS: a longer delay arrives early and the worker sends it round
 * again). Returns the tier exchange (of the tiers of `type`) and the routing key carrying the delay's digits.
 */
export function delayRoute(
  delayMs: number,
  queue: string,
  type: QueueType = 'classic',
): { exchange: string; routingKey: string; delayMs: number } {
  const delay = Math.min(MAX_TIER_DELAY_MS, Math.max(1, Math.round(delayMs)));
  const digits = delay.toString(RADIX).padStart(DELAY_LEVELS, '0');
  const highest = DELAY_LEVELS - 1 - digits.search(/[^0]/);
  return { exchange: tierExchange(highest, type), routingKey: `${digits.split('').join('.')}.${queue}`, delayMs: delay };
}
