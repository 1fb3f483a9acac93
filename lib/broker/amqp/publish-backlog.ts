/**
 * The publishes waiting to be written, in order: taken from the front, and put back at the front
 * (the one whose write the channel refused, a nacked one written again ahead of the rest).
 *
 * Invariant: the live items are `#items[#head..]`; slots before `#head` are emptied as they are
 * taken, so the backlog never holds a publish that was written. Taking is amortized O(1): the
 * array is cut down once more than half of it (and over 1024 slots) is taken.
 */
export class PublishBacklog<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get isEmpty(): boolean {
    return this.#head >= this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the first item (undefined when empty). */
  shift(): T | undefined {
    if (this.isEmpty) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Puts `item` at the front. */
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  /** Removes and returns every item, in order. */
  takeAll(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }

  /** Replaces the content with `items`, in order. */
  reset(items: T[]): void {
    this.#items = items;
    this.#head = 0;
  }
}
