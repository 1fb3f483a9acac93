/** What amqplib emits for a broker's basic.ack and basic.nack on a confirm channel. */
export interface ConfirmFields {
  deliveryTag: number;
  multiple: boolean;
}

/** What a nack settles a write with (as amqplib's own callbacks get it). */
export const NACKED = new Error('message nacked');

/**
 * The publishes written to one confirm channel, by delivery tag: how the broker's acks and
 * nacks (which name a tag, or every tag up to one) find their publishes with one handler per
 * channel, instead of a callback per publish kept by amqplib until its confirm.
 *
 * The broker numbers the publishes of a channel in confirm mode 1, 2, 3, ... in the order they
 * were written; amqplib writes them in call order and takes no tag for a publish it refused to
 * encode (it throws before writing). So `written` must be called once for each publish the
 * channel accepted, in order, and for nothing else.
 *
 * Invariant: `#items[i]` is the item of delivery tag `#base + i`, undefined once confirmed; slots
 * before `#head` are all undefined. Contract: `confirm` hands each item over at most once.
 */
export class ConfirmWindow<T> {
  #items: (T | undefined)[] = [];
  /** Delivery tag of #items[0]. */
  #base = 1;
  #head = 0;

  /** Records the next publish the channel accepted; returns its delivery tag. */
  written(item: T): number {
    this.#items.push(item);
    return this.#base + this.#items.length - 1;
  }

  /**
   * Hands to `each`, in tag order, the items an ack or nack of `tag` covers: that one, or with
   * `multiple` every unconfirmed one up to it. Tags out of the window are ignored.
   */
  confirm(tag: number, multiple: boolean, each: (item: T) => void): void {
    const items = this.#items;
    const index = tag - this.#base;
    if (index >= items.length && !multiple) return;
    const last = Math.min(index, items.length - 1);
    if (last < this.#head) return;
    const taken: T[] = [];
    for (let i = multiple ? this.#head : last; i <= last; i++) {
      const item = items[i];
      if (item === undefined) continue;
      items[i] = undefined;
      taken.push(item);
    }
    while (this.#head < items.length && items[this.#head] === undefined) this.#head++;
    if (this.#head === items.length) {
      this.#base += items.length;
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#base += this.#head;
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    // Handed over once the window is consistent: `each` may write more to the channel.
    for (const item of taken) each(item);
  }
}
