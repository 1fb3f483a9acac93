/**
 * `@opentelemetry/api`, loaded only once the application has registered something with it.
 *
 * The API keeps everything registered (tracer provider, propagator, context manager, diag
 * logger, ...) in one object at `globalThis[Symbol.for('opentelemetry.js.api.<major>')]`, shared
 * by every copy of the package in the process; the object is created by the first registration.
 * Until it exists, every API call celeriac makes is a no-op (no propagator: nothing injected or
 * extracted; no provider: no span; no context manager: `context.with` just calls the function),
 * so a process that never sets up OpenTelemetry does not load the package at all.
 *
 * Contract: `openTelemetry()` returns null while nothing is registered (a property read per
 * call), and also when the package cannot be loaded; once it returns the API it always does.
 * The package is required, not imported, so the first use is synchronous; Node resolves it to
 * the same file (its CommonJS build) as `import '@opentelemetry/api'`, so both share one module.
 */
import { createRequire } from 'node:module';
import type * as OpenTelemetry from '@opentelemetry/api';

export type OpenTelemetryApi = typeof OpenTelemetry;

/** The registry key of the API's major version 1, the version celeriac's peer dependency names. */
const REGISTRY = Symbol.for('opentelemetry.js.api.1');

/** undefined: not loaded yet; null: the package is not installed (or failed to load). */
let api: OpenTelemetryApi | null | undefined;

export function openTelemetry(): OpenTelemetryApi | null {
  if (api !== undefined) return api;
  if ((globalThis as Record<symbol, unknown>)[REGISTRY] === undefined) return null;
  try {
    api = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
  } catch {
    api = null;
  }
  return api;
}
