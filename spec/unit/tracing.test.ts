import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { App, Worker } from '../../lib/index.js';
import { memoryApp } from '../support/apps.js';

/** With an OpenTelemetry tracer registered, a task continues the trace of the code that sent it. */
describe('OpenTelemetry context propagation', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let app: App;
  let worker: Worker;
  const seen: { traceId?: string; spanName?: string }[] = [];

  before(async () => {
    provider.register();
    app = memoryApp();
    app.task('spec.traced', () => {
      const span = trace.getActiveSpan();
      seen.push({ traceId: span?.spanContext().traceId, spanName: (span as unknown as { name?: string })?.name });
      return 'ok';
    });
    app.task('spec.traced_failure', () => {
      throw new RangeError('traced failure');
    });
    worker = app.worker({ concurrency: 2 });
    await worker.start();
  });

  after(async () => {
    await worker.stop();
    await app.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('injects traceparent into the message and runs the task in a child span of the sender', async () => {
    const tracer = trace.getTracer('spec');
    const { traceId, spanId, result } = await tracer.startActiveSpan('send', async (span) => {
      const message = app.producer.build('spec.traced', [], {}, {});
      assert.match(String(message.headers.traceparent), new RegExp(`^00-${span.spanContext().traceId}-${span.spanContext().spanId}-01$`));
      const sent = await app.sendTask('spec.traced');
      span.end();
      return { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId, result: sent };
    });
    assert.equal(await result.get({ timeout: '10s' }), 'ok');
    assert.equal(seen.at(-1)?.traceId, traceId, "the task ran in the sender's trace");
    const run = exporter.getFinishedSpans().find((s) => s.name === 'run spec.traced' && s.spanContext().traceId === traceId);
    assert.ok(run, 'a span for the task run was exported');
    assert.equal(run.parentSpanContext?.spanId, spanId);
    assert.equal(run.attributes['messaging.message.id'], result.id);
  });

  it('keeps the trace through the steps of a chain', async () => {
    const { chain } = await import('../../lib/index.js');
    const step = app.tasks.get('spec.traced')!;
    const before = seen.length;
    const traceId = await trace.getTracer('spec').startActiveSpan('send-chain', async (span) => {
      const result = await chain(step.si(), step.si(), step.si()).applyAsync();
      span.end();
      await result.get({ timeout: '10s' });
      return span.spanContext().traceId;
    });
    const steps = seen.slice(before);
    assert.equal(steps.length, 3);
    assert.deepEqual(
      steps.map((s) => s.traceId),
      [traceId, traceId, traceId],
    );
  });

  it('records a failing task on its span', async () => {
    const result = await trace.getTracer('spec').startActiveSpan('send-failure', async (span) => {
      const sent = await app.sendTask('spec.traced_failure');
      span.end();
      return sent;
    });
    await assert.rejects(result.get({ timeout: '10s' }), /traced failure/);
    const run = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'run spec.traced_failure' && s.attributes['messaging.message.id'] === result.id);
    assert.ok(run);
    assert.equal(run.status.code, SpanStatusCode.ERROR);
    assert.equal(
      run.events.some((e) => e.name === 'exception'),
      true,
    );
  });

  it('sends no trace headers when nothing is being traced', () => {
    const message = app.producer.build('spec.traced', [], {}, {});
    assert.equal(message.headers.traceparent, undefined);
  });
});
