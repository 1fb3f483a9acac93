import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WorkerMetrics } from '../../lib/metrics/worker-metrics.js';
import { AMQP_URL, realApp } from '../support/apps.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

describe('broker reconnects are reported', () => {
  it("as the app's broker-reconnected event and in the worker's metrics", async () => {
    const proxy = await startTcpProxy();
    const app = realApp({ broker: proxy.urlFor(AMQP_URL), brokerConnectionMaxRetries: 10 });
    app.task('spec.reconnect', (n: number) => n);
    const worker = app.worker({ concurrency: 1 });
    const metrics = new WorkerMetrics(worker);
    try {
      await worker.start();
      assert.equal(await (await app.sendTask('spec.reconnect', [1])).get({ timeout: '10s' }), 1);
      const reconnected = once(app.events, 'broker-reconnected');
      proxy.cut();
      const [role] = (await reconnected) as ['publish' | 'consume'];
      assert.ok(role === 'publish' || role === 'consume');
      // Work goes on after the reconnect.
      assert.equal(await (await app.sendTask('spec.reconnect', [2])).get({ timeout: '20s' }), 2);
      const text = await metrics.registry.metrics();
      assert.match(text, /celeriac_broker_reconnects_total\{role="(publish|consume)",worker="[^"]+"\} [1-9]/);
    } finally {
      await metrics.close();
      await worker.stop();
      await app.transport.deleteQueue(app.config.defaultQueue).catch(() => undefined);
      await app.close();
      await proxy.close();
    }
  });
});
