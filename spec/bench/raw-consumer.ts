/**
 * Floor consumer (forked by raw-floor.ts): raw amqplib, no framework, on the floor consumer
 * skeleton (floor-consumer.ts).
 *
 * Consumes with a bounded prefetch (the same number celeriac's worker uses in the run) and
 * acks every message individually, after decoding its body once.
 *
 * mode 'reply': publishes an rpc-backend-shaped result to the message's reply_to on a
 *   confirm channel of a second connection, and acks the task only when that result is
 *   confirmed: the outcome is recorded before the ack, the invariant celeriac keeps. Confirms
 *   are pipelined, so up to `prefetch` tasks are in flight at once.
 * mode 'ack': acks straight away (fire-and-forget and consume-only floors). The finish time
 *   includes the acks reaching the broker (see floor-consumer.ts).
 */
import { connect } from 'amqplib';
import { startChild } from './child-runtime.js';
import { runFloorConsumer, type FloorConsumerSettings } from './floor-consumer.js';
import { resultMessage } from './raw-message.js';

export interface RawConsumerConfig extends FloorConsumerSettings {
  mode: 'reply' | 'ack';
}

const child = startChild<RawConsumerConfig>();

child.run(async () => {
  const { amqpUrl, mode } = child.config;
  await runFloorConsumer(child, child.config, async () => {
    if (mode === 'ack') return { handle: (_message, _args, settle) => settle(), close: () => undefined };
    const publishConnection = await connect(amqpUrl, { noDelay: true });
    const replyChannel = await publishConnection.createConfirmChannel();
    return {
      handle(message, args, settle, abort) {
        const taskId = message.properties.correlationId as string;
        const result = resultMessage(taskId, args[0]);
        // No drain wait needed: prefetch bounds how many replies can be unconfirmed.
        replyChannel.sendToQueue(message.properties.replyTo as string, result.body, result.options, (error: unknown) => {
          if (error) return abort(new Error('result publish nacked by the broker'));
          settle();
        });
      },
      close: () => publishConnection.close(),
    };
  });
});
