import { ConfigError } from '../errors/errors.js';
import { redactUrl, schemeOf } from '../util/url.js';
import { checkUrlList, splitUrlList } from '../util/url-list.js';
import { resolveTls, withoutTlsParameters, type TlsConfig, type TlsSource } from '../util/tls-settings.js';

/**
 * How a client picks the next broker node after a failed connect or a lost connection (Celery's
 * `broker_failover_strategy` names; see failover-rotation.ts for the orders they give).
 */
export type FailoverStrategy = 'round-robin' | 'shuffle';

export const FAILOVER_STRATEGIES: readonly FailoverStrategy[] = ['round-robin', 'shuffle'];

/** The schemes whose transport fails over between the nodes of a list. */
const LIST_SCHEMES = new Set(['amqp', 'amqps']);

/**
 * The URLs of a broker setting: Celery's `;`-separated list (`amqp://a;amqp://b`), or an array of
 * URLs (each may itself be such a list). Entries are trimmed; the result has at least one.
 *
 * Contract (each breach a ConfigError naming `option`, URLs shown with passwords hidden):
 * - entries are split by the one rule of URL lists (util/url-list.ts): a `;` separates only
 *   before the next `scheme://` or at the end, so one in a password or query stays in its URL;
 * - no entry is empty: an empty entry (`a;;b`, a trailing `;`) is refused, never skipped;
 * - a list of more than one entry holds amqp:// and amqps:// URLs only: those are the nodes of
 *   one RabbitMQ cluster, which the AMQP transport fails over between. memory:// is one
 *   in-process broker and other schemes have no fail-over, so neither may appear in a list;
 * - `;` always separates entries, so a password containing it must be percent-encoded (%3B),
 *   as with Celery.
 */
export function parseBrokerList(value: unknown, option = 'broker'): string[] {
  const parts = Array.isArray(value) ? (value as unknown[]) : [value];
  if (parts.length === 0) throw new ConfigError(option, 'expected a broker URL or a non-empty list of them, got []');
  const urls: string[] = [];
  for (const part of parts) {
    if (typeof part !== 'string') {
      throw new ConfigError(option, `expected a URL string or a list of them, got ${JSON.stringify(part) ?? String(part)}`);
    }
    urls.push(...splitUrlList(part));
  }
  // A single URL's scheme is the transport registry's to judge (an unknown one lists the known).
  checkUrlList(urls, option, 'broker list', redactUrl, urls.length > 1 ? clusterNode : undefined);
  return urls;
}

/** The rule of a list of more than one broker: each entry a node of one RabbitMQ cluster. */
function clusterNode(url: string): string | undefined {
  if (LIST_SCHEMES.has(schemeOf(url)) && /^[a-z]+:\/\//i.test(url)) return undefined;
  return `a broker list names the nodes of one RabbitMQ cluster: only amqp:// and amqps:// URLs, got ${redactUrl(url)}`;
}

/** The list in Celery's spelling: the URLs joined with `;`. */
export function joinBrokerList(urls: readonly string[]): string {
  return urls.join(';');
}

export function checkFailoverStrategy(option: string, value: unknown): FailoverStrategy {
  if (typeof value === 'string' && (FAILOVER_STRATEGIES as readonly string[]).includes(value)) return value as FailoverStrategy;
  throw new ConfigError(option, `expected ${FAILOVER_STRATEGIES.map((name) => `'${name}'`).join(' or ')}, got ${JSON.stringify(value)}`);
}

/**
 * The TLS settings of a broker list: each node's, resolved from `source` with that node's URL
 * (its own query parameters win). The amqps:// nodes must agree, since one set of settings
 * serves every connection; amqp:// nodes have none (and TLS parameters on one are a ConfigError).
 */
export function resolveBrokerListTls(urls: readonly string[], source: Omit<TlsSource, 'url'>): TlsConfig | null {
  let settings: TlsConfig | null = null;
  for (const url of urls) {
    const node = resolveTls({ ...source, url });
    if (node === null) continue;
    if (settings !== null && tlsIdentity(settings) !== tlsIdentity(node)) {
      throw new ConfigError(
        source.urlOption,
        `the amqps:// nodes of a broker list need the same TLS settings, but ${redactUrl(withoutTlsParameters(url))} has others`,
      );
    }
    settings ??= node;
  }
  return settings;
}

function tlsIdentity({ certReqs, caFile, certFile, keyFile, serverHostname }: TlsConfig): string {
  return JSON.stringify([certReqs, caFile, certFile, keyFile, serverHostname]);
}
