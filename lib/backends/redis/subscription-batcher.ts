/** How long unsubscribes wait, so one UNSUBSCRIBE covers every key left meanwhile. */
const UNSUBSCRIBE_DELAY_MS = 100;

interface Settle {
  resolve: () => void;
  reject: (err: unknown) => void;
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
 * Invariant: a channel subscribed again while its unsubscribe is still waiting has that
 * unsubscribe dropped, so the last call wins, as if every command had been sent in order.
 */
export class SubscriptionBatcher {
  private subscribes: { channel: string; settle: Settle }[] = [];
  private unsubscribes = new Map<string, Settle[]>();
  private unsubscribeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscribe: (channels: string[]) => Promise<unknown>,
    private readonly unsubscribe: (channels: string[]) => Promise<unknown>,
  ) {}

  add(op: 'subscribe' | 'unsubscribe', channel: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = { resolve, reject };
      if (op === 'subscribe') {
        // Never sent, so nothing to undo: the channel simply stays subscribed.
        for (const dropped of this.unsubscribes.get(channel) ?? []) dropped.resolve();
        this.unsubscribes.delete(channel);
        if (this.subscribes.length === 0) process.nextTick(() => setImmediate(() => this.flushSubscribes()));
        this.subscribes.push({ channel, settle });
      } else {
        const waiting = this.unsubscribes.get(channel);
        if (waiting) waiting.push(settle);
        else this.unsubscribes.set(channel, [settle]);
        this.unsubscribeTimer ??= setTimeout(() => this.flushUnsubscribes(), UNSUBSCRIBE_DELAY_MS).unref();
      }
    });
  }

  /** Drops the waiting unsubscribes (the connection is closing, which ends every subscription). */
  discard(): void {
    clearTimeout(this.unsubscribeTimer);
    this.unsubscribeTimer = undefined;
    for (const settles of this.unsubscribes.values()) settles.forEach((settle) => settle.resolve());
    this.unsubscribes.clear();
  }

  private flushSubscribes(): void {
    const run = this.subscribes;
    this.subscribes = [];
    // Not awaited: ioredis writes commands in call order, so this SUBSCRIBE follows every
    // UNSUBSCRIBE written before it.
    this.subscribe(run.map((o) => o.channel)).then(
      () => run.forEach((o) => o.settle.resolve()),
      (err: unknown) => run.forEach((o) => o.settle.reject(err)),
    );
  }

  private flushUnsubscribes(): void {
    this.unsubscribeTimer = undefined;
    const run = this.unsubscribes;
    this.unsubscribes = new Map();
    if (run.size === 0) return;
    const settles = [...run.values()].flat();
    this.unsubscribe([...run.keys()]).then(
      () => settles.forEach((settle) => settle.resolve()),
      (err: unknown) => settles.forEach((settle) => settle.reject(err)),
    );
  }
}
