import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import winston from 'winston';
import { createAmqpTransport } from '../../lib/broker/amqp/transport.js';
import type { TransportOptions } from '../../lib/broker/transport.js';
import { BrokerConnectionError } from '../../lib/errors/errors.js';
import { captureLogger } from '../support/capture-logger.js';
import { startFakeAmqpServer, type FakeAmqpServer } from '../support/fake-amqp-server.js';

/**
 * A broken or hostile broker must not exhaust the client's memory (GHSA-37f9-7m79-6866, fixed in
 * amqplib 2.3.0): a connection.tune with a frameMax under 4096 is refused, and a frame whose header
 * declares more than maxFrameSize closes the connection before its payload is buffered.
 */
describe('a hostile broker', () => {
  const servers: FakeAmqpServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  function options(overrides: Partial<TransportOptions>): TransportOptions {
    return {
      heartbeatSeconds: 0,
      confirmTimeoutMs: 5_000,
      connectMaxRetries: 0,
      connectInitialDelayMs: 10,
      connectMaxDelayMs: 50,
      logger: winston.createLogger({ silent: true }),
      ...overrides,
    };
  }

  it('refuses a connection.tune whose frameMax is below the protocol minimum', async () => {
    const server = await startFakeAmqpServer({ kind: 'tiny-frame-max', frameMax: 1024 });
    servers.push(server);
    const transport = createAmqpTransport(`amqp://guest:guest@127.0.0.1:${server.port}`, options({}));
    await assert.rejects(transport.declareQueue({ name: 'spec.hostile' }), (error: unknown) => {
      assert.ok(error instanceof BrokerConnectionError, String(error));
      assert.match(error.message, /frameMax 1024 is below the protocol minimum 4096/);
      return true;
    });
    await transport.close();
  });

  it('closes the connection on a frame declared larger than maxFrameSize, before buffering its payload', async () => {
    const server = await startFakeAmqpServer({ kind: 'huge-frame', size: 0xfffffff0 });
    servers.push(server);
    const { logger, lines } = captureLogger();
    const rssBefore = process.memoryUsage().rss;
    const transport = createAmqpTransport(
      `amqp://guest:guest@127.0.0.1:${server.port}`,
      options({ logger, connectMaxRetries: null, connectMaxDelayMs: 60_000 }),
    );
    void transport.declareQueue({ name: 'spec.hostile' }).catch(() => undefined);
    const deadline = Date.now() + 20_000;
    while (!server.clients[0]?.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const first = server.clients[0];
    assert.ok(first?.closed, 'the client closed the connection');
    assert.ok(first.junkWritten < 32 * 1024 * 1024, `closed after ${first.junkWritten} bytes of the frame, not after buffering it`);
    assert.ok(
      lines.some((line) => /Frame size 4294967280 exceeds maxFrameSize \d+/.test(line)),
      lines.join('\n'),
    );
    assert.ok(process.memoryUsage().rss - rssBefore < 128 * 1024 * 1024, 'no large buffer was built');
    await transport.close();
  });
});
