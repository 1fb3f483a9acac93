/**
 * Values keyed by increasing sequence numbers, removed in any order but mostly oldest first:
 * the publishes a publisher holds until the broker confirms them, by the thousand.
 *
 * Why not a Map: a bulk sender keeps tens of thousands in flight, each added and deleted once.
 * V8's Map table only marks a deleted entry and is rebuilt once marks and entries fill it, so
 * under steady churn it rebuilds a table of that size every so many sends (in the old generation
 * once the process is warm; see array-collections.ts for what that costs the young collector).
 * Here a value lives in an array slot at `seq - base`: adding appends, removing clears the slot,
 * and the array is only copied (from its first live slot) once more than half of it is cleared.
 *
 * Contract: `add` takes sequence numbers in strictly increasing order (any gaps allowed);
 * get/has/delete are O(1); iteration is in sequence order, over a snapshot taken when it starts,
 * so adding or deleting while iterating is safe; `oldest()` is amortized O(1).
 */
export class SequenceWindow<T> implements Iterable<T> {
  /** slots[i] holds the value of sequence number base + i, or undefined once removed (or a gap). */
  #slots: (T | undefined)[] = [];
  #base = 0;
  /** Slots before this index are all empty. */
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
    this.#last = seq;
    if (this.#size === 0) {
      this.#slots.length = 0;
      this.#base = seq;
      this.#head = 0;
    }
    const index = seq - this.#base;
    // A gap (sequence numbers never added) leaves empty slots; in practice there is none.
    while (this.#slots.length < index) this.#slots.push(undefined);
    this.#slots.push(value);
    this.#size++;
  }

  get(seq: number): T | undefined {
    const index = seq - this.#base;
    return index >= this.#head && index < this.#slots.length ? this.#slots[index] : undefined;
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  /** Removes the value under `seq`; false when there was none. */
  delete(seq: number): boolean {
    const index = seq - this.#base;
    if (index < this.#head || index >= this.#slots.length || this.#slots[index] === undefined) return false;
    this.#slots[index] = undefined;
    this.#size--;
    if (this.#size === 0) {
      this.#slots.length = 0;
      this.#head = 0;
      this.#base = this.#last + 1;
    } else if (index === this.#head) {
      this.#skipEmpty();
    }
    return true;
  }

  /** The value with the smallest sequence number, if any. */
  oldest(): T | undefined {
    return this.#size === 0 ? undefined : this.#slots[this.#head];
  }

  /** A snapshot of the values, in sequence order. */
  values(): T[] {
    const values: T[] = [];
    for (let i = this.#head; i < this.#slots.length; i++) {
      const value = this.#slots[i];
      if (value !== undefined) values.push(value);
    }
    return values;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }

  /** Moves `head` to the first live slot; drops the cleared prefix once it is over half the array. */
  #skipEmpty(): void {
    const slots = this.#slots;
    let head = this.#head;
    while (head < slots.length && slots[head] === undefined) head++;
    if (head > 1024 && head * 2 > slots.length) {
      this.#slots = slots.slice(head);
      this.#base += head;
      head = 0;
    }
    this.#head = head;
  }
}
