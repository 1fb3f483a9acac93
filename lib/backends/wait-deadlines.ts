/**
 * The deadlines of waits, with one timer per timeout length instead of one per wait.
 *
 * Waits with the same timeout length expire in the order they started (time only moves
 * forward), so each length keeps its waits in a FIFO queue with their deadlines beside them,
 * and one timer, armed for the oldest. Thousands of `get({ timeout })` started together cost
 * a slot each here, not a Timeout object each in Node's timer lists.
 *
 * Invariants: per length, `deadlines[i]` is the deadline of `items[i]`, non-decreasing from
 * `head`; a length has a queue ⇔ it has a timer ⇔ the queue holds an item not yet released
 * or expired. A wait that ends early calls `release` (its slot is skipped when reached, and
 * dropped at the next compaction: a queue is compacted once more than half of it, and at least
 * COMPACT_MIN slots, is released, so finished waits are not kept for their whole timeout).
 * Contract: `expire` is called once per item that reached its deadline while still live
 * (`isLive`), in deadline order, never from inside `add` or `release`.
 */
const COMPACT_MIN = 64;

interface Queue<T> {
  items: (T | undefined)[];
  deadlines: number[];
  head: number;
  /** Items in the queue released before their deadline. */
  released: number;
  timer: NodeJS.Timeout | undefined;
}

export class WaitDeadlines<T> {
  readonly #queues = new Map<number, Queue<T>>();

  constructor(
    /** False once the wait ended otherwise (its slot is then skipped). */
    private readonly isLive: (item: T) => boolean,
    /** The wait reached its deadline (`timeoutMs` after it was added). */
    private readonly expire: (item: T, timeoutMs: number) => void,
    /** The clock deadlines are measured on, in ms (monotonic). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Expires `item` `timeoutMs` (≥ 0, finite) from now unless it ends first. */
  add(item: T, timeoutMs: number): void {
    let queue = this.#queues.get(timeoutMs);
    if (!queue) {
      queue = { items: [], deadlines: [], head: 0, released: 0, timer: undefined };
      this.#queues.set(timeoutMs, queue);
    }
    queue.items.push(item);
    queue.deadlines.push(this.now() + timeoutMs);
    if (queue.timer === undefined) this.#arm(timeoutMs, queue);
  }

  /** An item added with `timeoutMs` ended before its deadline (isLive says false from now on). */
  release(timeoutMs: number): void {
    const queue = this.#queues.get(timeoutMs);
    if (!queue) return;
    queue.released++;
    const live = queue.items.length - queue.head - queue.released;
    if (live <= 0) this.#drop(timeoutMs, queue);
    else if (queue.released >= COMPACT_MIN && queue.released * 2 > queue.items.length - queue.head) this.#compact(queue);
  }

  /** Queues (one per timeout length in use): for specs. */
  get lengths(): number {
    return this.#queues.size;
  }

  #arm(timeoutMs: number, queue: Queue<T>): void {
    const delay = Math.max(0, Math.ceil(queue.deadlines[queue.head] - this.now()));
    queue.timer = setTimeout(() => this.#fire(timeoutMs, queue), delay);
  }

  #fire(timeoutMs: number, queue: Queue<T>): void {
    queue.timer = undefined;
    const now = this.now();
    const expired: T[] = [];
    while (queue.head < queue.items.length && queue.deadlines[queue.head] <= now) {
      const item = queue.items[queue.head]!;
      queue.items[queue.head++] = undefined;
      if (this.isLive(item)) expired.push(item);
      else queue.released--;
    }
    if (queue.head === queue.items.length) this.#drop(timeoutMs, queue);
    else {
      if (queue.head > COMPACT_MIN && queue.head * 2 > queue.items.length) this.#compact(queue);
      this.#arm(timeoutMs, queue);
    }
    // Expired items end their waits (which may release or add others): the queue is consistent by now.
    for (const item of expired) this.expire(item, timeoutMs);
  }

  /** Keeps the live items only. */
  #compact(queue: Queue<T>): void {
    const items: T[] = [];
    const deadlines: number[] = [];
    for (let i = queue.head; i < queue.items.length; i++) {
      const item = queue.items[i];
      if (item === undefined || !this.isLive(item)) continue;
      items.push(item);
      deadlines.push(queue.deadlines[i]);
    }
    queue.items = items;
    queue.deadlines = deadlines;
    queue.head = 0;
    queue.released = 0;
  }

  #drop(timeoutMs: number, queue: Queue<T>): void {
    clearTimeout(queue.timer);
    queue.timer = undefined;
    if (this.#queues.get(timeoutMs) === queue) this.#queues.delete(timeoutMs);
  }
}
