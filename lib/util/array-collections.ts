/**
 * A set and a map kept in plain arrays, for small collections that objects pass through by the
 * thousand on a hot path: a worker's executing and running requests.
 *
 * Why not Set and Map: V8 keeps their entries in an insertion-ordered hash table that a delete
 * only marks; it rebuilds the table once marks and entries fill it, so steady churn rebuilds it
 * every few operations. Once the table is in the old generation (it survived two young
 * collections, e.g. while the process idled), every rebuild is allocated there too, and each
 * abandoned table still points at the entries it held. The young-generation collector treats
 * those pointers as live until the next full collection, so every object that passed through
 * the collection — a task's request, its decoded message, its context — is copied and then
 * promoted: measured in a worker, 99 % of what survived one young collection was promoted, young
 * collections took 5–30 ms, and GC was a quarter of the worker's CPU. An array drops a removed
 * element's pointer at once and is only reallocated when it grows.
 *
 * Contract: membership by identity (===, like Set and Map for objects); insertion order;
 * O(n) has/delete, meant for collections of up to a few thousand. Iteration walks a snapshot,
 * so adding or deleting while iterating is safe.
 */
export class ArraySet<T> implements Iterable<T> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  add(value: T): this {
    if (!this.#items.includes(value)) this.#items.push(value);
    return this;
  }

  has(value: T): boolean {
    return this.#items.includes(value);
  }

  /** Removes `value`; false when it was not a member. */
  delete(value: T): boolean {
    const index = this.#items.indexOf(value);
    if (index < 0) return false;
    this.#items.splice(index, 1);
    return true;
  }

  /** A snapshot of the members, in insertion order. */
  values(): T[] {
    return this.#items.slice();
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }
}

/** The map counterpart of ArraySet (same reasons, same contract): keys and values in parallel arrays. */
export class ArrayMap<K, V> implements Iterable<[K, V]> {
  readonly #keys: K[] = [];
  readonly #values: V[] = [];

  get size(): number {
    return this.#keys.length;
  }

  get(key: K): V | undefined {
    const index = this.#keys.indexOf(key);
    return index < 0 ? undefined : this.#values[index];
  }

  has(key: K): boolean {
    return this.#keys.includes(key);
  }

  set(key: K, value: V): this {
    const index = this.#keys.indexOf(key);
    if (index >= 0) {
      this.#values[index] = value;
    } else {
      this.#keys.push(key);
      this.#values.push(value);
    }
    return this;
  }

  /** Removes `key` and its value; false when it was not there. */
  delete(key: K): boolean {
    const index = this.#keys.indexOf(key);
    if (index < 0) return false;
    this.#keys.splice(index, 1);
    this.#values.splice(index, 1);
    return true;
  }

  /** A snapshot of the keys, in insertion order. */
  keys(): K[] {
    return this.#keys.slice();
  }

  /** A snapshot of the values, in insertion order. */
  values(): V[] {
    return this.#values.slice();
  }

  [Symbol.iterator](): Iterator<[K, V]> {
    return this.#keys.map((key, i): [K, V] => [key, this.#values[i]])[Symbol.iterator]();
  }
}
