/** Queue setup and teardown done by the runner around a scenario (not measured). */
import { connect } from 'amqplib';

/** Declares the given queues on a short-lived connection. */
export async function declareQueues(url: string, queues: Array<{ name: string; durable: boolean }>): Promise<void> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) {
      await channel.assertQueue(queue.name, { durable: queue.durable, autoDelete: false, exclusive: false });
    }
  } finally {
    await connection.close();
  }
}

/**
 * Deletes queues (and same-named exchanges, in case a framework declared one per queue).
 * Deleting a queue or exchange that does not exist is not an error on RabbitMQ. `url` may be a
 * broker list: the first node that answers does it (a cluster's queues are everyone's). Best
 * effort: a failure is reported on stderr and does not fail the scenario.
 */
export async function deleteQueues(url: string, names: string[]): Promise<void> {
  let failure: unknown;
  for (const node of url.split(';')) {
    try {
      const connection = await connect(node);
      try {
        const channel = await connection.createChannel();
        for (const name of names) {
          await channel.deleteQueue(name);
          await channel.deleteExchange(name);
        }
      } finally {
        await connection.close();
      }
      return;
    } catch (error) {
      failure = error;
    }
  }
  process.stderr.write(`bench: could not delete queues ${names.join(', ')}: ${String(failure)}\n`);
}

/** The broker's product version, from the connection handshake. */
export async function brokerVersion(url: string): Promise<string> {
  const connection = await connect(url);
  try {
    const props = (connection.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties;
    const product = typeof props?.product === 'string' ? props.product : 'broker';
    const version = typeof props?.version === 'string' ? props.version : '?';
    return `${product} ${version}`;
  } finally {
    await connection.close();
  }
}
