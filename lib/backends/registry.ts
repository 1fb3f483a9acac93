import { UnknownSchemeError } from '../errors/errors.js';
import { schemeOf } from '../util/url.js';
import { createMemoryBackend } from './memory-backend.js';
import { createRedisBackend } from './redis/redis-backend.js';
import { createRpcBackend } from './rpc/rpc-backend.js';
import type { BackendOptions, ResultBackend } from './result-backend.js';

export type BackendFactory = (url: string, options: BackendOptions) => ResultBackend;

/** The one place that knows the result backend adapters. */
const factories = new Map<string, BackendFactory>([
  ['redis', createRedisBackend],
  ['rediss', createRedisBackend],
  ['sentinel', createRedisBackend],
  ['memory', createMemoryBackend],
  ['rpc', createRpcBackend],
]);

/** Adds (or replaces) the backend for a URL scheme. */
export function registerBackend(scheme: string, factory: BackendFactory): void {
  factories.set(scheme.toLowerCase(), factory);
}

export function createBackend(url: string, options: BackendOptions): ResultBackend {
  const scheme = schemeOf(url);
  const factory = factories.get(scheme);
  if (!factory)
    throw new UnknownSchemeError(
      'backend',
      scheme || url,
      [...factories.keys()].map((s) => `${s}://`),
    );
  return factory(url, options);
}
