import { redactUrl, schemeOf } from '../util/url.js';

/** The port a broker URL without one connects to, by scheme. */
const DEFAULT_PORTS: Record<string, number> = { amqp: 5672, amqps: 5671 };

/**
 * Celery's stats `broker`: what kombu's Connection.info() says of the worker's broker connection,
 * less the password (Celery drops it too) — Flower's worker page lists it under Broker. From the
 * broker URL (amqplib's defaults where it says nothing: user guest, virtual host '/', login
 * PLAIN); `url` is the URL with its password hidden. A URL that does not parse gives only the
 * transport and the hidden URL.
 */
export function brokerInfo(url: string, heartbeatSeconds: number | null): Record<string, unknown> {
  const scheme = schemeOf(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { transport: scheme, url: redactUrl(url) };
  }
  const path = parsed.pathname.slice(1);
  return {
    hostname: parsed.hostname,
    userid: parsed.username ? decodeURIComponent(parsed.username) : 'guest',
    virtual_host: path ? decodeURIComponent(path) : '/',
    port: parsed.port ? Number(parsed.port) : (DEFAULT_PORTS[scheme] ?? null),
    insist: false,
    ssl: scheme === 'amqps',
    // kombu names its AMQP transport 'amqp' whether or not TLS is on (ssl says which).
    transport: scheme === 'amqps' ? 'amqp' : scheme,
    heartbeat: heartbeatSeconds,
    login_method: 'PLAIN',
    uri_prefix: null,
    url: redactUrl(url),
  };
}
