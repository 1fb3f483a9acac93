import type { ConnectionOptions } from 'node:tls';
import { resolveTls, type TlsConfig } from '../../util/tls-settings.js';

/**
 * The TLS settings of a Redis backend URL: the app's (`backendTls`, resolved with the URL when the
 * app was made) when given, else the URL's own query parameters (`rediss://...?ssl_cert_reqs=
 * required&ssl_ca_certs=/ca.pem`); null for redis://. Throws ConfigError as resolveTls does.
 */
export function backendTls(url: string, given: TlsConfig | null | undefined): TlsConfig | null {
  return given ?? resolveTls({ urlOption: 'backend', url, option: 'backendTls', given: undefined });
}

/**
 * ioredis's `tls` option (passed on to tls.connect) for these settings; undefined without TLS.
 * Always an object for rediss://, so the certificate is verified unless cert_reqs=none says not.
 */
export function redisTlsOption(tls: TlsConfig | null): ConnectionOptions | undefined {
  return tls === null ? undefined : { ...tls.socketOptions };
}
