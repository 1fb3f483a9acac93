/**
 * Values keyed by increasing sequence numbers, removed in any order but mostly oldest first:
 * the publishes a publisher holds until the broker confirms them, by the thousand.
 *
 * Why not a Map: a bulk sender keeps tens of thousands in flight, each added and deleted once.
 * V8's Map table only marks a deleted entry and is rebuilt once marks and entries fill it, so
 * under steady churn it rebuilds a table of that size every so many sends (in the old generation
 * once the process is warm; see array-collections.ts for what that costs the young collector).
 * Here the sequence numbers and values sit in two parallel arrays in sequence order: adding
 * appends, removing clears the value's slot, and the arrays are rebuilt from their live entries
 * only once more than half of their slots are cleared — wherever the cleared slots are, so one
 * value that stays (a publish the broker never confirms) does not keep the slots after it.
 *
 * Contract: `add` takes sequence numbers in strictly increasing order (gaps allowed) and
 * refuses `undefined` as a value; get/has/delete are O(log n) (a binary search), `oldest()`
 * is O(1), and add/delete are amortized O(1) otherwise; `find` and `values` walk in sequence
 * order; `values` is a snapshot, so adding or deleting while iterating it is safe.
 */
export class SequenceWindow<T> implements Iterable<T> {
  /** Strictly increasing; seqs[i] is the sequence number of values[i]. */
  #seqs: number[] = [];
  /** undefined once removed. */
  #values: (T | undefined)[] = [];
  /** Slots before this index are all cleared; when size > 0, values[head] is live. */
  #head = 0;
  #size = 0;
  /** The last sequence number added (so one too small is refused). */
  #last = -Infinity;

  get size(): number {
    return this.#size;
  }

  /** Adds `value` under `seq`, which must be greater than every sequence number added before. */
  add(seq: number, value: T): void {
    if (!Number.isSafeInteger(seq) || seq <= this.#last) {
      throw new RangeError(`sequence number ${seq} is not greater than the last one added (${this.#last})`);
    }
    if (value === undefined) throw new TypeError('a SequenceWindow does not hold undefined');
    this.#last = seq;
    this.#seqs.push(seq);
    this.#values.push(value);
    this.#size++;
  }

  get(seq: number): T | undefined {
    const index = this.#indexOf(seq);
    return index < 0 ? undefined : this.#values[index];
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  /** Removes the value under `seq`; false when there was none. */
  delete(seq: number): boolean {
    const index = this.#indexOf(seq);
    if (index < 0 || this.#values[index] === undefined) return false;
    this.#values[index] = undefined;
    this.#size--;
    if (this.#size === 0) {
      this.#seqs = [];
      this.#values = [];
      this.#head = 0;
      return true;
    }
    if (index === this.#head) {
      let head = index + 1;
      while (this.#values[head] === undefined) head++; // size > 0: a live slot follows
      this.#head = head;
    }
    if (this.#values.length > 1024 && this.#size * 2 < this.#values.length) this.#compact();
    return true;
  }

  /** The value with the smallest sequence number, if any. */
  oldest(): T | undefined {
    return this.#size === 0 ? undefined : this.#values[this.#head];
  }

  /** The first value, in sequence order, that `predicate` accepts. */
  find(predicate: (value: T) => boolean): T | undefined {
    const values = this.#values;
    for (let i = this.#head; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined && predicate(value)) return value;
    }
    return undefined;
  }

  /** A snapshot of the values, in sequence order. */
  values(): T[] {
    const values: T[] = [];
    for (let i = this.#head; i < this.#values.length; i++) {
      const value = this.#values[i];
      if (value !== undefined) values.push(value);
    }
    return values;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }

  /** The slot of `seq` (live or cleared) at or after head, or -1. */
  #indexOf(seq: number): number {
    const seqs = this.#seqs;
    let low = this.#head;
    let high = seqs.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = seqs[middle];
      if (found === seq) return middle;
      if (found < seq) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /** Rebuilds both arrays from the live entries only. */
  #compact(): void {
    const seqs: number[] = [];
    const values: T[] = [];
    for (let i = this.#head; i < this.#values.length; i++) {
      const value = this.#values[i];
      if (value === undefined) continue;
      seqs.push(this.#seqs[i]);
      values.push(value);
    }
    this.#seqs = seqs;
    this.#values = values;
    this.#head = 0;
  }
}
