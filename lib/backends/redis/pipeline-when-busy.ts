import type { Redis } from '../../util/ioredis.js';

/**
 * Auto-pipelining only while the connection is busy. ioredis's auto-pipelining holds every
 * command until the next tick and sends it through a pipeline object: a fine trade when many
 * commands are issued together (one write, one round trip for all), pure cost for a lone command
 * — the one result a worker stores while nothing else is going on, on the critical path of
 * every low-load round trip.
 *
 * Every command of the connection is issued through `issue`, which counts the commands issued
 * and not yet answered, and sets ioredis's public `enableAutoPipelining` option (read at each
 * command) just before issuing: a command issued while none is outstanding is written at once;
 * one issued while others are outstanding joins the next pipeline. Call order stays write order:
 * a command only goes out at once when no earlier one is still waiting to be written.
 *
 * Invariant: `outstanding` is the number of commands issued through `issue` whose promise has not
 * settled; a command issued on the client directly is not counted (so none must be).
 */
export class PipelineWhenBusy {
  #outstanding = 0;
  readonly #answered = (): void => {
    this.#outstanding--;
  };

  constructor(private readonly client: Redis) {}

  /** Commands issued and not yet answered. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /**
   * Issues one command (or one MULTI…EXEC) and returns its reply promise itself (no wrapper: this
   * is on the path of every command). The count drops before the caller's continuation runs,
   * since the handler is attached first.
   */
  issue<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    this.client.options.enableAutoPipelining = this.#outstanding > 0;
    this.#outstanding++;
    let reply: Promise<T>;
    try {
      reply = command(this.client);
    } catch (err) {
      this.#outstanding--;
      return Promise.reject(err);
    }
    reply.then(this.#answered, this.#answered);
    return reply;
  }
}
