/** How long unsubscribes wait, so one UNSUBSCRIBE covers every key left meanwhile. */
const UNSUBSCRIBE_DELAY_MS = 100;

/** Channels going out in one command, and the one promise every caller of them shares. */
interface Run {
  channels: string[];
  done: Promise<void>;
  settle: (outcome: Promise<unknown>) => void;
}

function newRun(): Run {
  let settle!: (outcome: Promise<unknown>) => void;
  // Settled by resolving with the command's own promise: it takes that outcome, and a run keeps
  // one function, not two.
  const done = new Promise<void>((resolve) => {
    settle = resolve as (outcome: Promise<unknown>) => void;
  });
  return { channels: [], done, settle };
}

/**
 * Coalesces subscription changes into few commands (and socket writes) — ioredis cannot
 * auto-pipeline them, and one SUBSCRIBE plus one UNSUBSCRIBE per waiting `get()` is what a
 * client would otherwise pay, even one waiting for a single result at a time:
 * - subscribes made in one event-loop turn go out as one `SUBSCRIBE a b c` after it, and after
 *   the AMQP publishes made in that turn: amqplib writes a publish from a setImmediate it queues
 *   in a nextTick, and the SUBSCRIBE is written from a setImmediate queued the same way, later.
 *   A task's message thus leaves first and the subscription's trip to Redis overlaps the
 *   broker's and the worker's work instead of delaying the publish (measured: ~0.1 ms off a
 *   single round trip). Safe: a waiter reads the stored key once subscribed, so an outcome
 *   published before the subscription took effect is still seen;
 * - unsubscribes wait up to UNSUBSCRIBE_DELAY_MS and go out as one `UNSUBSCRIBE …`. Meanwhile
 *   the connection stays subscribed, which only means the odd message for a key nobody waits
 *   for any more (the backend ignores those).
 * Every call of one command gets the same promise (the command's outcome): what a waiting key
 * costs here is its name in a list until the command is written, not a promise of its own.
 * Invariant: a channel subscribed again while its unsubscribe is still waiting has that
 * unsubscribe dropped (its callers' promise then settles with the rest of that run), so the last
 * call wins, as if every command had been sent in order.
 */
export class SubscriptionBatcher {
  private subscribes: Run | undefined;
  private unsubscribes: Run | undefined;
  /** The channels of `unsubscribes` (a dropped one is deleted here, and skipped when it goes out). */
  private leaving = new Set<string>();
  private unsubscribeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscribe: (channels: string[]) => Promise<unknown>,
    private readonly unsubscribe: (channels: string[]) => Promise<unknown>,
  ) {}

  /** Resolves once the command carrying `channel` succeeded (one promise per command: callers share it). */
  add(op: 'subscribe' | 'unsubscribe', channel: string): Promise<void> {
    if (op === 'subscribe') {
      // Never sent, so nothing to undo: the channel simply stays subscribed. (Looked up only
      // when something is leaving: hashing the key flattens it, which ioredis does anyway later.)
      if (this.leaving.size > 0) this.leaving.delete(channel);
      if (!this.subscribes) {
        this.subscribes = newRun();
        process.nextTick(() => setImmediate(() => this.flushSubscribes()));
      }
      this.subscribes.channels.push(channel);
      return this.subscribes.done;
    }
    if (!this.unsubscribes) {
      this.unsubscribes = newRun();
      this.unsubscribeTimer = setTimeout(() => this.flushUnsubscribes(), UNSUBSCRIBE_DELAY_MS).unref();
    }
    if (!this.leaving.has(channel)) {
      this.leaving.add(channel);
      this.unsubscribes.channels.push(channel);
    }
    return this.unsubscribes.done;
  }

  /** Drops the waiting unsubscribes (the connection is closing, which ends every subscription). */
  discard(): void {
    clearTimeout(this.unsubscribeTimer);
    this.unsubscribeTimer = undefined;
    const run = this.unsubscribes;
    this.unsubscribes = undefined;
    this.leaving.clear();
    run?.settle(Promise.resolve());
  }

  private flushSubscribes(): void {
    const run = this.subscribes!;
    this.subscribes = undefined;
    // Not awaited: ioredis writes commands in call order, so this SUBSCRIBE follows every
    // UNSUBSCRIBE written before it.
    run.settle(this.command(this.subscribe, run.channels));
  }

  private flushUnsubscribes(): void {
    this.unsubscribeTimer = undefined;
    const run = this.unsubscribes;
    if (!run) return;
    this.unsubscribes = undefined;
    const leaving = this.leaving;
    this.leaving = new Set();
    // Each channel still leaving, once (one subscribed and left again was pushed twice).
    const channels = run.channels.filter((channel) => leaving.delete(channel));
    run.settle(channels.length === 0 ? Promise.resolve() : this.command(this.unsubscribe, channels));
  }

  /** The command's outcome (a throw becomes a rejection). */
  private command(send: (channels: string[]) => Promise<unknown>, channels: string[]): Promise<unknown> {
    try {
      return send(channels);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
