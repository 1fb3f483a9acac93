import type { FailoverStrategy } from './broker-list.js';

/**
 * The order in which one client tries the nodes of a broker list. `current` is the node to
 * connect to (or connected to); `advance()` moves on after a failed connect or a lost connection.
 *
 * - 'round-robin' (default, Kombu's `itertools.cycle`): the nodes in list order, starting at the
 *   first, over and over. Every client starts on the first node and moves on together.
 * - 'shuffle': each pass visits every node once, in a new random order, and never the same node
 *   twice in a row across passes. The first node is random too, so clients spread over the
 *   nodes. (Kombu's `shufflecycle` draws a random node each time, so a pass may skip a live
 *   node or retry a dead one, and its first connection always goes to the first URL.)
 *
 * Invariant: `order` is a permutation of the nodes, and `current` is `order[index]`; the nodes
 * given are compared by identity (a list may name one URL twice: both entries are tried).
 */
export class FailoverRotation<T> {
  private order: T[];
  private index = 0;

  constructor(
    private readonly nodes: readonly T[],
    private readonly strategy: FailoverStrategy = 'round-robin',
    private readonly random: () => number = Math.random,
  ) {
    if (nodes.length === 0) throw new RangeError('a failover rotation needs at least one node');
    this.order = strategy === 'shuffle' ? this.shuffled(undefined) : [...nodes];
  }

  get size(): number {
    return this.nodes.length;
  }

  get current(): T {
    return this.order[this.index];
  }

  /** Moves to the next node; past the end of a pass, starts the next pass. */
  advance(): T {
    this.index += 1;
    if (this.index === this.order.length) {
      this.index = 0;
      if (this.strategy === 'shuffle') this.order = this.shuffled(this.order[this.order.length - 1]);
    }
    return this.current;
  }

  /** Fisher-Yates; `notFirst` (the node just tried) is moved off the front when there is a choice. */
  private shuffled(notFirst: T | undefined): T[] {
    const order = [...this.nodes];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    if (order.length > 1 && order[0] === notFirst) {
      const j = 1 + Math.floor(this.random() * (order.length - 1));
      [order[0], order[j]] = [order[j], order[0]];
    }
    return order;
  }
}
