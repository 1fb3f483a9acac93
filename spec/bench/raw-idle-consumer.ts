/**
 * The floor-idle process (spawned by idle.ts): raw amqplib, one connection, one consumer on a
 * durable queue with the floor consumer's prefetch, acking whatever arrives (nothing does).
 * It does nothing else: no IPC channel, no sampler, no report; idle.ts measures it from
 * outside, as it does the celeriac worker. Exits 0 on SIGTERM after closing its connection.
 *
 * Usage: node raw-idle-consumer.js '{"url":"amqp://…","queue":"…","prefetch":64}'
 */
import { connect } from 'amqplib';

export interface RawIdleConsumerConfig {
  url: string;
  queue: string;
  prefetch: number;
}

const { url, queue, prefetch } = JSON.parse(process.argv[2] ?? '{}') as RawIdleConsumerConfig;

const connection = await connect(url, { noDelay: true });
const channel = await connection.createChannel();
await channel.prefetch(prefetch);
await channel.consume(
  queue,
  (message) => {
    if (message) channel.ack(message);
  },
  { noAck: false },
);

process.once('SIGTERM', () => {
  void connection.close().finally(() => process.exit(0));
});
