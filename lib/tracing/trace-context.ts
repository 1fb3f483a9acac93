/**
 * OpenTelemetry context propagation, active only when the application has `@opentelemetry/api`
 * installed (an optional peer dependency) and registered a tracer provider:
 * - the producer injects the active context into the task message headers — W3C `traceparent`
 *   and `tracestate`, the headers Celery's OpenTelemetry instrumentation uses too;
 * - the worker runs the task inside a span "run <task name>" whose parent is that context, so
 *   the task's own spans and logs join the caller's trace, and sends the rest of the workflow
 *   (chain steps, callbacks, chord bodies) within that context too.
 * Without the package, or before the application registered anything with it, every function
 * here is a pass-through and the package is not loaded (opentelemetry-api.ts); with it but
 * without a provider, OpenTelemetry's no-op implementations make it nearly free.
 */
import { openTelemetry, type OpenTelemetryApi } from './opentelemetry-api.js';

/**
 * The delegate of a tracer provider nobody registered (OpenTelemetry's no-op one); taken on the
 * first check, from the one API openTelemetry() ever returns.
 */
let noopTracerProvider: unknown;

/**
 * Whether the application set up OpenTelemetry: a tracer provider (spans are recorded) or a
 * propagator (trace context is passed on). With neither, a task span would record nothing and
 * carry nothing, so the worker skips it — no span and context objects per task.
 */
function tracingConfigured(otel: OpenTelemetryApi): boolean {
  noopTracerProvider ??= new otel.ProxyTracerProvider().getDelegate();
  const provider = otel.trace.getTracerProvider();
  const providerSet = !(provider instanceof otel.ProxyTracerProvider) || provider.getDelegate() !== noopTracerProvider;
  return providerSet || otel.propagation.fields().length > 0;
}

/** Adds the active trace context to outgoing headers (nothing when there is no active span). */
export function injectTraceContext(headers: Record<string, unknown>): void {
  const otel = openTelemetry();
  if (!otel) return;
  otel.propagation.inject(otel.context.active(), headers);
}

/**
 * Runs `fn` in a span that continues the trace carried by `headers`. The span records the task
 * id and name, and ends with the task: status ERROR and the exception when `fn` rejects.
 */
export function runInTaskSpan<T>(
  headers: Readonly<Record<string, unknown>>,
  task: { id: string; name: string },
  fn: () => Promise<T>,
): Promise<T> {
  const otel = openTelemetry();
  if (!otel || !tracingConfigured(otel)) return fn();
  const parent = otel.propagation.extract(otel.ROOT_CONTEXT, headers);
  const attributes = { 'celery.task_name': task.name, 'messaging.message.id': task.id, 'messaging.system': 'rabbitmq' };
  return otel.trace
    .getTracer('celeriac')
    .startActiveSpan(`run ${task.name}`, { kind: otel.SpanKind.CONSUMER, attributes }, parent, async (span) => {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof Error) span.recordException(error);
        span.setStatus({ code: otel.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        throw error;
      } finally {
        span.end();
      }
    });
}

/** Runs `fn` with the trace context carried by `headers` active, so what it sends joins that trace. */
export function withTraceContext<T>(headers: Readonly<Record<string, unknown>>, fn: () => Promise<T>): Promise<T> {
  if (headers.traceparent === undefined) return fn();
  const otel = openTelemetry();
  if (!otel) return fn();
  return otel.context.with(otel.propagation.extract(otel.ROOT_CONTEXT, headers), fn);
}
