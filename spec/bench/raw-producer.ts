/**
 * Floor producer (forked by raw-floor.ts): raw amqplib, no framework, on the floor producer
 * skeleton (floor-producer.ts: batches, warm-up, timing).
 *
 * mode 'roundtrip': subscribes to the reply queue, publishes N Celery-shaped task messages
 *   (persistent, mandatory, to a durable queue) with pipelined confirms, and finishes when the
 *   N-th reply has arrived. Latency per task = reply received − publish call, both taken here.
 * mode 'publish': publishes N messages and finishes at the N-th confirm (publish-only floor).
 * mode 'latency': as 'roundtrip', one task at a time: publish, await its confirm and its reply,
 *   then the next (the floor of a single round trip at low load).
 *
 * Two connections, as the design asks of celeriac: one publishes, one consumes replies.
 */
import { connect } from 'amqplib';
import { startChild } from './child-runtime.js';
import { runFloorProducer, type FloorProducerSettings } from './floor-producer.js';
import { now } from './ipc.js';
import { taskMessage } from './raw-message.js';

export interface RawProducerConfig extends Omit<FloorProducerSettings, 'oneAtATime' | 'answer'> {
  mode: 'roundtrip' | 'publish' | 'latency';
  /** Required in 'roundtrip' and 'latency' modes. */
  replyQueue?: string;
}

const child = startChild<RawProducerConfig>();

child.run(async () => {
  const { amqpUrl, mode, replyQueue } = child.config;
  const replies = mode === 'roundtrip' || mode === 'latency';
  if (replies && !replyQueue) throw new Error(`${mode} mode needs replyQueue`);
  const replyTo = replies ? replyQueue : undefined;

  const settings = { ...child.config, oneAtATime: mode === 'latency', answer: replyTo ? ('reply' as const) : undefined };
  await runFloorProducer(child, settings, async (answers) => {
    const message = (i: number) => taskMessage(i, replyTo);
    if (!replyTo) return { message, close: () => undefined };
    const consumeConnection = await connect(amqpUrl, { noDelay: true });
    const replyChannel = await consumeConnection.createChannel();
    // noAck, like Celery's rpc backend consumer: results are transient.
    await replyChannel.consume(
      replyTo,
      (reply) => {
        if (!reply) return answers.failed(new Error('reply consumer cancelled by the broker'));
        answers.arrived(reply.properties.correlationId as string, now());
      },
      { noAck: true },
    );
    return { message, close: () => consumeConnection.close() };
  });
});
