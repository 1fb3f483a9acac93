import { Writable } from 'node:stream';
import amqp from 'amqplib';
import winston from 'winston';
import { chord, Signature, type App } from '../../lib/index.js';
import type { RabbitCluster } from './rabbit-cluster.js';
import type { RabbitNode } from './rabbit-node.js';
import type { TimedLine } from './failover-figures.js';
import type { Workload } from './loss-checker.js';

/**
 * The load the cluster fault specs (spec/cluster) put on a cluster beside the loss checker's
 * tasks: chords in flight, a quorum queue led by a chosen node, a producer log with times.
 * What is read from it afterwards is failover-figures.ts's.
 */

/** A logger whose lines are kept with the time each was written, to time what a producer logged. */
export function timedLogger(): { logger: winston.Logger; lines: TimedLine[] } {
  const lines: TimedLine[] = [];
  const stream = new Writable({
    objectMode: true,
    write(info: { level: string; message: string }, _encoding, done) {
      lines.push({ at: Date.now(), line: `${info.level}: ${info.message}` });
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'info', transports: [new winston.transports.Stream({ stream })] }), lines };
}

/**
 * Declares `queue` a quorum queue through `node`, so that node leads it (RabbitMQ 3.10 places
 * a new quorum queue's leader on the node the declaring client is connected to). The arguments
 * are celeriac's for `type: 'quorum'`, so the producer's and workers' declarations match.
 */
export async function declareQuorumQueueOn(node: RabbitNode, queue: string): Promise<void> {
  const connection = await amqp.connect(node.url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  } finally {
    await connection.close();
  }
}

/** Waits until `cluster` reports a leader for `queue` other than `old`; resolves with it. */
export async function newLeader(cluster: RabbitCluster, queue: string, old: RabbitNode, timeoutMs = 60_000): Promise<RabbitNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await cluster.leaderOf(queue).catch(() => null);
    if (leader && leader !== old) return leader;
    if (Date.now() > deadline) throw new Error(`no new leader for ${queue} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface ChordLoad {
  attempted: number;
  /** Chords whose send resolved (the broker confirmed every header task). */
  sent: number;
  /** Chords whose send rejected: the caller saw the error. */
  failedToSend: number;
  /** Sent chords whose body's result arrived with the right sum. */
  completed: number;
  /** Sent chords with no (or a wrong) body result in time: must be none. */
  lost: string[];
}

/**
 * Sends chords of `size` `rel.part` tasks with a `rel.sum` body (reliability-app.ts), `inFlight`
 * at a time, each waiting for its body's result (Redis) once sent, until `done()` says so and at
 * least `min` were attempted.
 */
export async function runChords(producer: App, size: number, min: number, done: () => boolean, inFlight = 4): Promise<ChordLoad> {
  const load: ChordLoad = { attempted: 0, sent: 0, failedToSend: 0, completed: 0, lost: [] };
  const lane = async (): Promise<void> => {
    while (load.attempted < min || !done()) {
      const base = load.attempted++ * size;
      const parts = Array.from({ length: size }, (_, i) => new Signature({ task: 'rel.part', args: [base + i] }, producer));
      const expected = parts.reduce((total, _, i) => total + base + i, 0);
      let result;
      try {
        result = await chord(parts, new Signature<number>({ task: 'rel.sum' }, producer)).applyAsync();
      } catch {
        load.failedToSend += 1;
        continue;
      }
      load.sent += 1;
      try {
        const value = await result.get({ timeout: 120_000 });
        if (value === expected) load.completed += 1;
        else load.lost.push(`${result.id}: sum ${String(value)}, expected ${expected}`);
      } catch (error) {
        load.lost.push(`${result.id}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return load;
}

/**
 * `rel.work` tasks sent in batches of `batch` (each batch sent at once, the next when every send
 * of it settled) until `done()` says so and at least `min` were attempted: a load that goes on
 * through a fault, however long the fault takes to land.
 */
export async function sendUntil(workload: Workload, batch: number, min: number, done: () => boolean): Promise<void> {
  while (workload.attempted.size < min || !done()) await workload.send(batch, 2, batch);
}
