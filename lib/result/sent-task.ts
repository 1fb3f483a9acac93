import type { AsyncResult, GetOptions } from './async-result.js';

/**
 * What `delay()` and `applyAsync()` return: a promise of the task's AsyncResult, settled once
 * the broker has confirmed the message (or rejected with why it was not sent), that also offers
 * `get()` at once — `await add.delay(2, 2).get()`, as in Celery.
 *
 * That `get()` starts waiting for the result while the confirm is still on its way, instead of
 * after it: the result cannot come before the message was published, so nothing is missed, and
 * the broker's confirm latency overlaps with the task's run. It settles with the outcome as soon
 * as the outcome is there, confirmed or not: a stored outcome means a worker received the
 * message, which is all a confirm would have told. If the send fails first, `get()` rejects with
 * the send's error (and stops waiting). Awaiting the SentTask itself keeps the contract of a
 * plain send: once it resolves, the broker has the message.
 */
export class SentTask<R> implements PromiseLike<AsyncResult<R>> {
  get [Symbol.toStringTag](): string {
    return 'SentTask';
  }

  constructor(
    /** The handle on the result, usable before the send is confirmed. */
    private readonly result: AsyncResult<R>,
    /**
     * Settles when the broker confirmed the message (or rejects with why it was not sent).
     * Mapped to the AsyncResult only when someone awaits this SentTask: a send nobody awaits
     * holds no second promise until its confirm.
     */
    private readonly published: Promise<void>,
  ) {}

  /** The task id (known before the message is sent). */
  get id(): string {
    return this.result.id;
  }

  /**
   * Waits for the task's outcome, and rejects with the send's error if the send fails before the
   * outcome is known; see AsyncResult.get for the options.
   */
  get(options: GetOptions = {}): Promise<R> {
    return this.result.getWhileSending(options, this.published);
  }

  then<T = AsyncResult<R>, E = never>(
    onFulfilled?: ((value: AsyncResult<R>) => T | PromiseLike<T>) | null,
    onRejected?: ((reason: unknown) => E | PromiseLike<E>) | null,
  ): Promise<T | E> {
    const result = this.result;
    return this.published.then(onFulfilled ? () => onFulfilled(result) : () => result as T, onRejected);
  }

  catch<E = never>(onRejected?: ((reason: unknown) => E | PromiseLike<E>) | null): Promise<AsyncResult<R> | E> {
    return this.then(undefined, onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<AsyncResult<R>> {
    return this.then().finally(onFinally);
  }
}
