import type { Redis } from '../../util/ioredis.js';
import type { WaitForReplicas } from '../result-backend-options.js';

/** A write the primary applied that fewer replicas than required acknowledged in time. */
export class ReplicasBehindError extends Error {
  override readonly name = 'ReplicasBehindError';
}

/**
 * Redis `WAIT replicas timeout` after writes (resultBackendWaitForReplicas), shared by every write
 * of one connection. Redis replicates asynchronously: a primary answers a write before any
 * replica has it, and a fail-over in between promotes a replica without it. WAIT blocks until
 * the replicas acknowledged every write sent before it on the same connection, or the timeout
 * passed, and answers how many did.
 *
 * Contract of `confirm()`, called once a write's reply arrived: resolves when a WAIT sent after
 * that reply, on the connection that carried it, was answered with at least `replicas`; rejects
 * with ReplicasBehindError when fewer acknowledged in time or the connection was lost in
 * between (a WAIT answered by another connection — say, to the primary promoted in a fail-over
 * — says nothing about a write the old one carried).
 *
 * One WAIT serves many writes: the first `confirm()` schedules one for the end of the current
 * microtask queue, and every write whose reply arrives before it is sent (the replies of one
 * pipeline are read together) joins it. A write confirmed after it was sent schedules the next.
 */
export class ReplicaAcknowledgement {
  #scheduled: Promise<number> | undefined;
  /** Incremented whenever the connection closes: a write and its WAIT must share an epoch. */
  #epoch = 0;

  constructor(
    client: Redis,
    private readonly policy: WaitForReplicas,
    /** Issues WAIT on the write's connection, in order after the commands issued before it. */
    private readonly issueWait: (replicas: number, timeoutMs: number) => Promise<number>,
  ) {
    client.on('close', () => {
      this.#epoch++;
    });
  }

  async confirm(): Promise<void> {
    const epoch = this.#epoch;
    this.#scheduled ??= new Promise<number>((resolve, reject) => {
      queueMicrotask(() => {
        this.#scheduled = undefined;
        this.issueWait(this.policy.replicas, this.policy.timeoutMs).then(resolve, reject);
      });
    });
    const acknowledged = await this.#scheduled;
    const { replicas, timeoutMs } = this.policy;
    if (this.#epoch !== epoch) {
      throw new ReplicasBehindError(
        'applied, but the connection to the primary was lost before replicas acknowledged it (resultBackendWaitForReplicas)',
      );
    }
    if (acknowledged < replicas) {
      throw new ReplicasBehindError(
        `applied on the primary, but ${acknowledged} of ${replicas} replicas acknowledged it within ${timeoutMs} ms ` +
          '(resultBackendWaitForReplicas)',
      );
    }
  }
}
