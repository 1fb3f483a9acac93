import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { memoryApp } from '../support/apps.js';

/** Whether any file of @opentelemetry/api is loaded in this process (each spec file runs in its own). */
function openTelemetryLoaded(): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/@opentelemetry/api/'));
}

/**
 * With nothing registered with OpenTelemetry, celeriac does not load `@opentelemetry/api` (it is
 * installed here): sending and running tasks is a plain pass-through. tracing.test.ts covers an
 * application that registers a provider after celeriac was loaded.
 */
describe('OpenTelemetry, nothing registered', () => {
  it('sends and runs a task without loading @opentelemetry/api', async () => {
    assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for('opentelemetry.js.api.1')], undefined);
    const app = memoryApp();
    app.task('spec.untraced', () => 'ok');
    const worker = app.worker({ concurrency: 1 });
    await worker.start();
    try {
      assert.equal(app.producer.build('spec.untraced', [], {}, {}).headers.traceparent, undefined);
      const sent = await app.sendTask('spec.untraced');
      assert.equal(await sent.get({ timeout: '10s' }), 'ok');
      assert.equal(openTelemetryLoaded(), false);
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});
