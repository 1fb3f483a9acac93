/**
 * Publishing as the floors do it: every message written at once on a confirm channel, pausing
 * only for 'drain' when amqplib's socket buffer is full, no await per message. Shared by the
 * floor producers (raw-producer.ts, raw-redis-producer.ts).
 */
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { once } from 'node:events';

/** One message as a floor producer sends it: its task id, body and amqplib publish options. */
export interface FloorMessage {
  id: string;
  body: Buffer;
  options: Options.Publish;
}

export interface PipelinedPublish {
  published: () => number;
  confirmed: () => number;
  /** Resolves at the last confirm; a nack or a basic.return (unroutable) rejects it. */
  done: Promise<void>;
}

/**
 * Publishes `count` messages made by `message(i)` to `queue` without awaiting each confirm.
 * `onPublish(i, id)` runs just before each message is written.
 */
export function publishPipelined(
  channel: ConfirmChannel,
  queue: string,
  count: number,
  message: (i: number) => FloorMessage,
  onPublish: (i: number, taskId: string) => void,
): PipelinedPublish {
  let published = 0;
  let confirmed = 0;
  const done = new Promise<void>((resolve, reject) => {
    if (count === 0) return resolve();
    const onReturn = (returned: ConsumeMessage): void => reject(new Error(`unroutable: ${returned.fields.routingKey}`));
    channel.on('return', onReturn);
    // Removed when this batch settles (latency mode runs thousands of one-message batches).
    const stopListening = (): void => void channel.off('return', onReturn);
    const onConfirm = (error: unknown): void => {
      if (error) {
        stopListening();
        return reject(new Error('publish nacked by the broker'));
      }
      if (++confirmed === count) {
        stopListening();
        resolve();
      }
    };
    void (async () => {
      for (let i = 0; i < count; i++) {
        const next = message(i);
        onPublish(i, next.id);
        published++;
        if (!channel.sendToQueue(queue, next.body, next.options, onConfirm)) {
          await once(channel, 'drain');
        }
      }
    })().catch(reject);
  });
  return { published: () => published, confirmed: () => confirmed, done };
}
