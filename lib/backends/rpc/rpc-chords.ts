import type { Logger } from 'winston';
import type { Delivery, QueueDeclaration, QueueType, Transport } from '../../broker/transport.js';
import { BackendError } from '../../errors/errors.js';
import { stringifyJson } from '../../protocol/serializers.js';
import type { ChordPart, ChordPartOutcome } from '../result-backend.js';
import { FreshCounts } from './fresh-counts.js';

/** Parts taken per getMany (AMQP's largest prefetch). */
const TAKE_BATCH = 65_535;

/** How often a reporter that saw a complete count but found duplicates tries to claim again. */
const CLAIM_ATTEMPTS = 5;

interface Claim {
  readonly claimer: string;
  readonly token: Delivery;
  readonly parts: Delivery[];
  readonly outcomes: ChordPartOutcome[];
}

/**
 * Chord counting kept in RabbitMQ itself, for rpc:// (which has no shared store).
 *
 * Per chord two durable queues that expire when unused (expires = result expiry), of the app's
 * default queue type (quorum ones keep a chord's count through the loss of a cluster node; only
 * its producer declares them, so apps of either type can share a broker):
 * - `celeriac.chord.<gid>.parts`: one persistent message per header outcome;
 * - `celeriac.chord.<gid>.claim`: one token, published by the producer (setChordSize).
 *
 * A header task publishes its outcome (confirmed), then, if the parts queue holds at least `size`
 * ready messages (a length query started after the confirm, shared with the other reports of this
 * process that finish meanwhile), tries to take the token with basic.get. RabbitMQ hands the token
 * to one getter only: that is the claim. The claimer takes every part (unacked; streamed by
 * getMany, not one basic.get each), keeps the first outcome per task id, and if all `size` ids
 * are there it holds token and parts — invisible to everyone else — until `chordDone` acks them
 * and deletes both queues. If ids are missing (duplicates inflated the count) it returns
 * everything and checks again; the report that adds the missing id will claim. If the claimer
 * dies, its channels close and RabbitMQ returns token and parts; the redelivered header task
 * reports again and a new claim completes the chord.
 */
export class RpcChords {
  readonly #claims = new Map<string, Claim>();
  /** Parts-queue lengths, one query shared by the reports that finish together. */
  readonly #counts = new FreshCounts();

  constructor(
    private readonly transport: () => Transport,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly url: string,
    private readonly queueType: QueueType,
  ) {}

  async setSize(groupId: string, size: number): Promise<void> {
    const transport = this.transport();
    const { parts, claim } = queuesOf(groupId, this.ttlMs, this.queueType);
    await transport.declareQueue(parts);
    await transport.declareQueue(claim);
    await transport.publish(
      {
        body: Buffer.from(stringifyJson({ size })),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {},
        persistent: true,
      },
      { exchange: '', routingKey: claim.name },
    );
  }

  async partReturn(part: ChordPart): Promise<ChordPartOutcome[] | null> {
    const held = this.#claims.get(part.groupId);
    if (held) return held.claimer === part.taskId ? held.outcomes : null;
    if (part.size === null) {
      throw new BackendError(this.url, `chord ${part.groupId}: the body carries no chord_size; rpc:// chords must be sent by celeriac`);
    }
    const transport = this.transport();
    const { parts, claim } = queuesOf(part.groupId, this.ttlMs, this.queueType);
    const body = stringifyJson({ task_id: part.taskId, group_index: part.groupIndex, status: part.state, result: part.result });
    try {
      await transport.publish(
        {
          body: Buffer.from(body),
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          headers: {},
          persistent: true,
          correlationId: part.taskId,
        },
        { exchange: '', routingKey: parts.name },
      );
    } catch (error) {
      // No parts queue: the chord already completed (or expired). A late duplicate changes nothing.
      this.logger.debug(`chord ${part.groupId}: part of ${part.taskId} not recorded (${(error as Error).message})`);
      return null;
    }
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const ready = await this.#counts.count(parts.name, () => transport.messageCount(parts.name)).catch(() => -1);
      if (ready < part.size) return null;
      const token = await transport.get(claim.name).catch(() => null);
      if (!token) return null;
      const taken = await takeAll(transport, parts.name).catch((error: unknown) => {
        token.reject(true);
        throw error;
      });
      const outcomes = firstOutcomePerTask(taken);
      if (outcomes.length >= part.size) {
        this.#claims.set(part.groupId, { claimer: part.taskId, token, parts: taken, outcomes });
        return outcomes;
      }
      for (const delivery of taken) delivery.reject(true);
      token.reject(true);
    }
    return null;
  }

  async done(groupId: string): Promise<void> {
    const held = this.#claims.get(groupId);
    this.#claims.delete(groupId);
    if (held) {
      held.token.ack();
      for (const delivery of held.parts) delivery.ack();
    }
    const transport = this.transport();
    const { parts, claim } = queuesOf(groupId, this.ttlMs, this.queueType);
    await Promise.all([transport.deleteQueue(parts.name), transport.deleteQueue(claim.name)]);
  }
}

/** Every ready message of the queue, unsettled, in as few subscriptions as the broker allows. */
async function takeAll(transport: Transport, queue: string): Promise<Delivery[]> {
  const taken: Delivery[] = [];
  for (;;) {
    const batch = await transport.getMany(queue, TAKE_BATCH);
    taken.push(...batch);
    if (batch.length < TAKE_BATCH) return taken;
  }
}

function queuesOf(groupId: string, ttlMs: number, type: QueueType): { parts: QueueDeclaration; claim: QueueDeclaration } {
  const intents = { ...(ttlMs > 0 ? { expires: ttlMs } : {}), ...(type === 'quorum' ? { type } : {}) };
  const base = `celeriac.chord.${groupId}`;
  return {
    parts: { name: `${base}.parts`, durable: true, ...intents },
    claim: { name: `${base}.claim`, durable: true, ...intents },
  };
}

/** The first outcome reported per task id, in header order (group_index, then task id). */
function firstOutcomePerTask(deliveries: readonly Delivery[]): ChordPartOutcome[] {
  const byTask = new Map<string, ChordPartOutcome & { index: number }>();
  for (const delivery of deliveries) {
    const part = JSON.parse(delivery.body.toString('utf8')) as {
      task_id: string;
      group_index: number | null;
      status: ChordPartOutcome['state'];
      result: unknown;
    };
    if (!byTask.has(part.task_id)) {
      byTask.set(part.task_id, {
        taskId: part.task_id,
        state: part.status,
        result: part.result,
        index: part.group_index ?? Number.POSITIVE_INFINITY,
      });
    }
  }
  return [...byTask.values()]
    .sort((a, b) => a.index - b.index || (a.taskId < b.taskId ? -1 : 1))
    .map(({ taskId, state, result }) => ({ taskId, state, result }));
}
