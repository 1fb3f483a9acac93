import { ConfigError } from '../../errors/errors.js';
import { redactUrl } from '../../util/url.js';
import { checkUrlList, splitUrlList } from '../../util/url-list.js';
import { TLS_URL_PARAMETERS } from '../../util/tls-settings.js';
import type { BackendConnectionSettings } from '../result-backend-options.js';

/** Where a `sentinel://` backend finds its primary: what ioredis's Sentinel support takes. */
export interface SentinelTarget {
  sentinels: { host: string; port: number }[];
  /** The name Sentinel monitors the primary under. */
  name: string;
  db: number;
  /** The data nodes' credentials (primary and replicas). */
  username?: string;
  password?: string;
  /** The sentinels' own credentials. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

/** The query parameter that names the primary in a `sentinel://` URL (celeriac's; Celery reads it from transport options only). */
export const MASTER_NAME_PARAM = 'master_name';
const DEFAULT_SENTINEL_PORT = 26379;
const OPTION = 'backend';

/**
 * Reads Celery's Sentinel backend URL: `sentinel://[[user]:password@]host[:port][/db]`, one per
 * sentinel, joined by `;` (`sentinel://:pw@h1:26379/0;sentinel://h2:26379/0`; split and checked as
 * every URL list is, util/url-list.ts: an empty entry is refused). As in Celery, the
 * credentials and db are the data nodes' and come from the first URL that gives them (a later
 * URL that gives other ones is a ConfigError, not ignored); the port defaults to 26379. The
 * primary's name is the `master_name` query parameter of any of the URLs, else
 * `connection.masterName` (resultBackendTransportOptions); the sentinels' credentials come from
 * `connection` only. TLS is never in the URL (see refuseTlsParameters). Throws ConfigError naming
 * `backend`, never showing a password.
 */
export function parseSentinelUrl(url: string, connection: BackendConnectionSettings = {}): SentinelTarget {
  const chunks = splitUrlList(url);
  if (chunks.every((chunk) => chunk === '')) throw new ConfigError(OPTION, 'a sentinel:// backend URL names no sentinel');
  checkUrlList(chunks, OPTION, 'Sentinel list', redactUrl);
  const sentinels: SentinelTarget['sentinels'] = [];
  const shared: { db?: number; username?: string; password?: string; name?: string } = {};
  for (const chunk of chunks) {
    const shown = redactUrl(chunk);
    let parsed: URL;
    try {
      parsed = new URL(chunk);
    } catch {
      throw new ConfigError(OPTION, `not a URL: ${shown} (expected sentinel://[[user]:password@]host[:port][/db], ';'-separated)`);
    }
    if (parsed.protocol !== 'sentinel:') throw new ConfigError(OPTION, `${shown}: every URL of a Sentinel list must be sentinel://`);
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw new ConfigError(OPTION, `${shown}: no sentinel host`);
    sentinels.push({ host, port: parsed.port === '' ? DEFAULT_SENTINEL_PORT : Number(parsed.port) });
    const path = parsed.pathname.replace(/^\//, '');
    if (path !== '') {
      if (!/^\d+$/.test(path)) throw new ConfigError(OPTION, `${shown}: the path must be a database number, got /${path}`);
      agree(shared, 'db', Number(path), shown);
    }
    if (parsed.username !== '') agree(shared, 'username', decodeURIComponent(parsed.username), shown);
    if (parsed.password !== '') agree(shared, 'password', decodeURIComponent(parsed.password), shown);
    for (const [key, value] of parsed.searchParams) {
      if (TLS_URL_PARAMETERS.includes(key)) throw ambiguousTlsParameter(key, shown);
      if (key !== MASTER_NAME_PARAM) throw new ConfigError(OPTION, `${shown}: unknown query parameter ${key}; known: ${MASTER_NAME_PARAM}`);
      if (value === '') throw new ConfigError(OPTION, `${shown}: ${MASTER_NAME_PARAM} is empty`);
      agree(shared, 'name', value, shown);
    }
  }
  const name = shared.name ?? connection.masterName;
  if (name === undefined) {
    throw new ConfigError(
      OPTION,
      `${redactUrl(url)} does not say which primary to use: add ?${MASTER_NAME_PARAM}=<name> (the name in "sentinel monitor <name> ...") ` +
        'to the URL, or set resultBackendTransportOptions.masterName',
    );
  }
  return {
    sentinels,
    name,
    db: shared.db ?? 0,
    ...(shared.username !== undefined ? { username: shared.username } : {}),
    ...(shared.password !== undefined ? { password: shared.password } : {}),
    ...(connection.sentinelUsername !== undefined ? { sentinelUsername: connection.sentinelUsername } : {}),
    ...(connection.sentinelPassword !== undefined ? { sentinelPassword: connection.sentinelPassword } : {}),
  };
}

/** Records `value` under `key` unless an earlier URL of the list gave another one. */
function agree<K extends 'db' | 'username' | 'password' | 'name'>(
  shared: { db?: number; username?: string; password?: string; name?: string },
  key: K,
  value: NonNullable<(typeof shared)[K]>,
  shown: string,
): void {
  const earlier = shared[key];
  if (earlier !== undefined && earlier !== value) {
    const what = { db: 'database', username: 'user name', password: 'password', name: MASTER_NAME_PARAM }[key];
    throw new ConfigError(OPTION, `${shown}: gives another ${what} than an earlier URL of the list; the sentinels share one primary`);
  }
  shared[key] = value;
}

/** celeriac's name of each TLS URL parameter, for the advice of ambiguousTlsParameter. */
const TLS_SETTING_OF: Record<string, string> = {
  ssl_ca_certs: 'caFile',
  ssl_certfile: 'certFile',
  ssl_keyfile: 'keyFile',
  ssl_cert_reqs: 'certReqs',
  ssl_server_hostname: 'serverHostname',
};

/**
 * Throws ConfigError naming `backend` and the parameter when any URL of a `sentinel://` list
 * carries a TLS parameter (ssl_ca_certs, ...): on a rediss:// URL it is the server's, but a
 * sentinel:// list reaches two kinds of server — the sentinels, then the data nodes they name —
 * and each has its own TLS settings. Called at createApp, before the URL is read otherwise.
 */
export function refuseTlsParameters(url: string): void {
  for (const chunk of splitUrlList(url)) {
    let parsed: URL;
    try {
      parsed = new URL(chunk);
    } catch {
      continue; // parseSentinelUrl names the bad URL
    }
    for (const key of parsed.searchParams.keys()) {
      if (TLS_URL_PARAMETERS.includes(key)) throw ambiguousTlsParameter(key, redactUrl(chunk));
    }
  }
}

function ambiguousTlsParameter(key: string, shown: string): ConfigError {
  const setting = TLS_SETTING_OF[key] ?? key;
  return new ConfigError(
    OPTION,
    `${shown}: the query parameter ${key} is ambiguous on a sentinel:// URL (the sentinels' TLS or the data nodes'?): ` +
      `for the data nodes (primary and replicas) give backendTls.${setting} (Celery: redis_backend_use_ssl['${key}']), ` +
      `for the sentinels resultBackendTransportOptions.sentinelTls.${setting} ` +
      `(Celery: result_backend_transport_options['sentinel_kwargs'] with 'ssl': True and '${key}'), and remove it from the URL`,
  );
}
