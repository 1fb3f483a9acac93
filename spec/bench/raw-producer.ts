/**
 * Floor producer (forked by raw-floor.ts): raw amqplib, no framework.
 *
 * mode 'roundtrip': subscribes to the reply queue, publishes N Celery-shaped task messages
 *   (persistent, mandatory, to a durable queue) with pipelined confirms, and finishes when the
 *   N-th reply has arrived. Latency per task = reply received − publish call, both taken here.
 * mode 'publish': publishes N messages and finishes at the N-th confirm (publish-only floor).
 * mode 'latency': as 'roundtrip', one task at a time: publish, await its confirm and its reply,
 *   then the next (the floor of a single round trip at low load).
 *
 * Before 'go' it pushes a few warm-up messages through the same path (celeriac's producer
 * does the same), so neither side is timed while still cold.
 *
 * Two connections, as the design asks of celeriac: one publishes, one consumes replies.
 */
import { connect } from 'amqplib';
import { startChild } from './child-runtime.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';
import { publishPipelined } from './pipelined-publish.js';
import { taskMessage } from './raw-message.js';

export interface RawProducerConfig {
  url: string;
  mode: 'roundtrip' | 'publish' | 'latency';
  queue: string;
  /** Required in 'roundtrip' mode. */
  replyQueue?: string;
  n: number;
  /** Messages sent (and, roundtrip, answered) before 'go'; not measured. The consumer expects n + warmup. */
  warmup: number;
}

const child = startChild<RawProducerConfig>();

child.run(async () => {
  const { url, mode, queue, replyQueue, n, warmup } = child.config;
  const replies = mode === 'roundtrip' || mode === 'latency';
  if (replies && !replyQueue) throw new Error(`${mode} mode needs replyQueue`);
  const replyTo = replies ? replyQueue : undefined;

  const publishConnection = await connect(url, { noDelay: true });
  const channel = await publishConnection.createConfirmChannel();
  const consumeConnection = replies ? await connect(url, { noDelay: true }) : undefined;

  // Task id → index of the task in its batch, for tasks whose reply is still due.
  const awaitingReply = new Map<string, number>();
  let onReply: (i: number, at: number) => void = () => undefined;
  let replyFailed: (error: Error) => void = () => undefined;
  const replyFailure = new Promise<never>((_, reject) => {
    replyFailed = reject;
  });
  replyFailure.catch(() => undefined); // observed by whichever batch is running

  if (consumeConnection && replyQueue) {
    const replyChannel = await consumeConnection.createChannel();
    // noAck, like Celery's rpc backend consumer: results are transient.
    await replyChannel.consume(
      replyQueue,
      (message) => {
        if (!message) return replyFailed(new Error('reply consumer cancelled by the broker'));
        const at = now();
        const id = message.properties.correlationId as string;
        const i = awaitingReply.get(id);
        if (i === undefined) return replyFailed(new Error(`reply for unknown task ${id}`));
        awaitingReply.delete(id);
        onReply(i, at);
      },
      { noAck: true },
    );
  }

  /** Publishes `count` tasks and resolves when all are confirmed and (roundtrip) replied to. */
  const batch = (count: number, onPublished: (i: number) => void, onReplied: (i: number, at: number) => void) => {
    let replies = 0;
    const allReplies =
      replyTo && count > 0
        ? new Promise<void>((resolve) => {
            onReply = (i, at) => {
              onReplied(i, at);
              if (++replies === count) resolve();
            };
          })
        : Promise.resolve();
    const publishing = publishPipelined(
      channel,
      queue,
      count,
      (i) => taskMessage(i, replyTo),
      (i, id) => {
        onPublished(i);
        if (replyTo) awaitingReply.set(id, i);
      },
    );
    const confirmed = publishing.done.then(now);
    const finished = Promise.all([confirmed, allReplies]).then(([confirmedAt]) => ({ confirmedAt, finishedAt: now() }));
    return {
      status: () =>
        `published ${publishing.published()}/${count}, confirmed ${publishing.confirmed()}${replyTo ? `, replies ${replies}` : ''}`,
      done: Promise.race([finished, replyFailure]),
    };
  };

  /** One round trip at a time (publish, confirm and reply, next), `latency` entries filled if given. */
  const oneAtATime = async (count: number, latency?: Float64Array, onDone: () => void = () => undefined) => {
    for (let i = 0; i < count; i++) {
      const at = now();
      let repliedAt = 0;
      await batch(
        1,
        () => undefined,
        (_, replied) => {
          repliedAt = replied;
        },
      ).done;
      if (latency) latency[i] = repliedAt - at;
      onDone();
    }
  };

  // Warm-up, not measured: the first messages through amqplib and the broker's queue process
  // (latency mode: the one-at-a-time path itself, see LATENCY_WARMUP).
  if (mode === 'latency') await oneAtATime(warmup);
  else
    await batch(
      warmup,
      () => undefined,
      () => undefined,
    ).done;

  const sentAt = new Float64Array(n);
  const latency = new Float64Array(n);
  await child.ready();
  const startedAt = now();
  if (mode === 'latency') {
    let done = 0;
    const progress = setInterval(() => child.progress(`round trips ${done}/${n}`), 1000);
    await oneAtATime(n, latency, () => done++);
    clearInterval(progress);
    child.finished({ startedAt, finishedAt: now(), count: n, latency: summarizeLatency(latency) });
    await child.stopped();
    await publishConnection.close();
    await consumeConnection?.close();
    return child.exit();
  }
  const measured = batch(
    n,
    (i) => {
      sentAt[i] = now();
    },
    (i, at) => {
      latency[i] = at - sentAt[i];
    },
  );
  const progress = setInterval(() => child.progress(measured.status()), 1000);
  const { confirmedAt, finishedAt } = await measured.done;
  clearInterval(progress);

  child.finished({
    startedAt,
    finishedAt,
    count: n,
    latency: replyTo ? summarizeLatency(latency) : undefined,
    extra: { publishSeconds: (confirmedAt - startedAt) / 1000 },
  });

  await child.stopped();
  await publishConnection.close();
  await consumeConnection?.close();
  child.exit();
});
