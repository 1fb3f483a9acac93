import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AMQP_URL } from '../support/apps.js';
import { Workload } from '../support/loss-checker.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * Producer and workers talk to RabbitMQ through a proxy that slices every byte stream into
 * fragments of 1–7 bytes with tiny delays: AMQP frames arrive split at every possible place
 * (inside frame headers, method arguments, content headers and bodies), and must be reassembled.
 * Only this test's own connections go through the proxy.
 */
describe('reliability: traffic sliced into tiny TCP fragments', () => {
  let workload: Workload | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    // The clean-up (queue deletions, the producer's close) goes through the proxy too: unsliced,
    // so it finishes well within the Workload's bounds and leaves no connection behind.
    proxy?.slice(false);
    await workload?.close();
    workload = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  it(
    'producer and two workers through a slicing proxy (1–7 byte fragments): ' + 'correct results, nothing lost, nothing duplicated',
    async (t) => {
      proxy = await startTcpProxy();
      proxy.slice({ minBytes: 1, maxBytes: 7 });
      const url = proxy.urlFor(AMQP_URL);
      const w = (workload = new Workload({ producerBroker: url, workerBroker: url }));
      await w.startWorker('f1', ['-c', '4']);
      await w.startWorker('f2', ['-c', '4']);
      await w.send(150, 5, 20);
      const report = await w.settle(90_000);
      const { bytes, fragments } = proxy.forwarded;
      t.diagnostic(`checker: ${Workload.summary(report)}`);
      t.diagnostic(`proxy: ${bytes} bytes in ${fragments} fragments (${(bytes / Math.max(1, fragments)).toFixed(1)} bytes each)`);
      assert.deepEqual(report.lost, []);
      assert.deepEqual(report.unexpected, []);
      assert.equal(report.confirmed, 150);
      assert.equal(report.duplicated, 0, 'no connection was lost, so nothing ran twice');
      assert.ok(fragments > 0 && bytes / fragments <= 7, 'the traffic was sliced');
      // Results are right, not only present: each task returned its own number.
      const results = await Promise.all(
        [...w.confirmed].map(async (id) => [w.attempted.get(id), await w.producer.asyncResult(id).get({ timeout: 10_000 })] as const),
      );
      assert.deepEqual(
        results.filter(([n, value]) => n !== value),
        [],
      );
      assert.equal(proxy.accepted >= 3, true, `every client connected through the proxy (${proxy.accepted} connections)`);
      for (const worker of w.workers) assert.equal(worker.child.exitCode, null);
      assert.deepEqual(w.forbiddenLogLines(), []);
    },
  );
});
