/**
 * Shares queue-length queries between callers without ever answering one with a stale count.
 *
 * Contract: `count(queue, query)` resolves with the result of a query that was *started after*
 * the call — so a caller that published and had the publish confirmed before asking always sees
 * its own message counted. Per queue at most one query runs and at most one waits: a caller
 * joins the waiting one (it has not started yet, so it is fresh for everyone in it), or, when
 * none waits, becomes the waiting one, which starts as soon as the running one has finished.
 * Many header tasks of a chord finishing at once thus cost a few queries, not one each.
 */
export class FreshCounts {
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #waiting = new Map<string, Promise<number>>();

  count(queue: string, query: () => Promise<number>): Promise<number> {
    const waiting = this.#waiting.get(queue);
    if (waiting) return waiting;
    const next = (async () => {
      await this.#running.get(queue);
      // Started now: callers from here on need the next query.
      this.#waiting.delete(queue);
      const running = query();
      const settled = running.then(
        () => undefined,
        () => undefined,
      );
      this.#running.set(queue, settled);
      try {
        return await running;
      } finally {
        if (this.#running.get(queue) === settled) this.#running.delete(queue);
      }
    })();
    this.#waiting.set(queue, next);
    return next;
  }
}
