import type { ConnectionOptions } from 'node:tls';
import { resolveTls, type TlsConfig } from '../../util/tls-settings.js';
import { schemeOf } from '../../util/url.js';
import { refuseTlsParameters } from './sentinel-url.js';

/**
 * The TLS settings of a Redis backend URL: the app's (`backendTls`, resolved with the URL when the
 * app was made) when given, else the URL's own query parameters (`rediss://...?ssl_cert_reqs=
 * required&ssl_ca_certs=/ca.pem`); null for redis://, and for a sentinel:// backend given none
 * (its URL carries no TLS: refuseTlsParameters). Throws ConfigError as resolveTls does.
 */
export function backendTls(url: string, given: TlsConfig | null | undefined): TlsConfig | null {
  if (given !== undefined && given !== null) return given;
  if (schemeOf(url) === 'sentinel') {
    refuseTlsParameters(url);
    return null;
  }
  return resolveTls({ urlOption: 'backend', url, option: 'backendTls', given: undefined });
}

/**
 * The result backend's TLS, resolved at createApp. rediss://: the URL's parameters, else
 * backendTls, else the environment ($CELERIAC_BACKEND_TLS_*). sentinel://: TLS to the data nodes
 * the sentinels name, on when backendTls or the environment gives settings (Celery's
 * redis_backend_use_ssl with its sentinel backend); the URL's ssl_* parameters are refused as
 * ambiguous (refuseTlsParameters). Throws ConfigError as resolveTls does.
 */
export function resolveBackendTls(backend: string, given: unknown, env: NodeJS.ProcessEnv): TlsConfig | null {
  const sentinel = schemeOf(backend) === 'sentinel';
  if (sentinel) refuseTlsParameters(backend);
  return resolveTls({
    urlOption: 'backend',
    url: backend,
    option: 'backendTls',
    given,
    envPrefix: 'CELERIAC_BACKEND_TLS_',
    env,
    settingsTurnTlsOn: sentinel,
  });
}

/**
 * ioredis's `tls` option (passed on to tls.connect) for these settings; undefined without TLS.
 * Always an object for rediss://, so the certificate is verified unless cert_reqs=none says not.
 */
export function redisTlsOption(tls: TlsConfig | null): ConnectionOptions | undefined {
  return tls === null ? undefined : { ...tls.socketOptions };
}
