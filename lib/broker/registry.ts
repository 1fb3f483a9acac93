import { UnknownSchemeError } from '../errors/errors.js';
import { schemeOf } from '../util/url.js';
import { parseBrokerList } from './broker-list.js';
import { createAmqpTransport } from './amqp/transport.js';
import { createMemoryTransport } from './memory/memory-transport.js';
import type { Transport, TransportOptions } from './transport.js';

export type TransportFactory = (url: string, options: TransportOptions) => Transport;

/** The one place that knows the adapters; everything else sees the Transport interface. */
const factories = new Map<string, TransportFactory>([
  ['amqp', createAmqpTransport],
  ['amqps', createAmqpTransport],
  ['memory', createMemoryTransport],
]);

/** Adds (or replaces) the adapter for a URL scheme, e.g. for a custom broker. */
export function registerTransport(scheme: string, factory: TransportFactory): void {
  factories.set(scheme.toLowerCase(), factory);
}

/** `url` may be a broker list (broker-list.ts): only the AMQP adapter takes one; a bad list is a ConfigError. */
export function createTransport(url: string, options: TransportOptions): Transport {
  parseBrokerList(url);
  const scheme = schemeOf(url);
  const factory = factories.get(scheme);
  if (!factory)
    throw new UnknownSchemeError(
      'broker',
      scheme || url,
      [...factories.keys()].map((s) => `${s}://`),
    );
  return factory(url, options);
}
