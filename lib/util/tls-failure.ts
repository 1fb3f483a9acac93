/**
 * What went wrong in a TLS connection attempt, in words an operator can act on, from the error
 * Node reports (its certificate check codes and OpenSSL's `ERR_SSL_*` codes).
 *
 * Every kind is a refusal: the same attempt fails the same way until a certificate, a file or a
 * URL is changed, so none is worth minutes of retries. A connection reset or timeout during the
 * handshake is not classified here (it may be the network); tls-probe.ts looks closer at those.
 */
export type TlsFailureKind =
  /** The server's certificate does not chain to a trusted CA (the CA file given, else Node's root CAs). */
  | 'untrusted-certificate'
  /** The server's certificate is outside its validity period. */
  | 'expired-certificate'
  /** The server's certificate does not name the host connected to (or serverHostname). */
  | 'hostname-mismatch'
  /** The server refused this client's certificate, or wanted one and got none. */
  | 'client-certificate-refused'
  /** A TLS client (amqps://, rediss://) reached a port that speaks plain text. */
  | 'not-tls'
  /** A plain-text client (amqp://, redis://) reached a port that speaks TLS. */
  | 'tls-port'
  /** Another handshake failure: no common protocol version or cipher, a malformed message. */
  | 'handshake-failed';

export interface TlsFailure {
  kind: TlsFailureKind;
  /** Node's or OpenSSL's code, when there was one. */
  code: string | null;
  /** One sentence: what happened and what to check. */
  text: string;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'CERT_CHAIN_TOO_LONG',
  'PATH_LENGTH_EXCEEDED',
]);

const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** Alerts a server sends when it does not accept the client's certificate (or wants one). */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/** What OpenSSL says when the bytes that came back are not TLS records. */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_HTTP_REQUEST',
]);

/** The TLS failure `error` reports, or null when it is not one (a reset, a refused or timed-out TCP connect, ...). */
export function classifyTlsError(error: unknown): TlsFailure | null {
  const code = codeOf(error);
  const message = error instanceof Error ? error.message.split('\n')[0].trim() : '';
  if (code === null) return null;
  if (UNTRUSTED.has(code)) {
    return failure('untrusted-certificate', code, `the server's certificate is not trusted (${code}: ${message}): check the CA file`);
  }
  if (EXPIRED.has(code)) {
    const when = code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet';
    return failure('expired-certificate', code, `the server's certificate ${when} (${code})`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return failure('hostname-mismatch', code, `the server's certificate does not name this host (${code}: ${message})`);
  }
  if (CLIENT_CERTIFICATE_ALERTS.has(code)) {
    const what =
      code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
        ? 'the server requires a client certificate, and none was given (certFile and keyFile)'
        : "the server refused this client's certificate";
    return failure('client-certificate-refused', code, `${what} (${code})`);
  }
  if (NOT_TLS.has(code)) {
    return failure('not-tls', code, `the server does not speak TLS on this port (${code}): is it a plain-text port given to a TLS URL?`);
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || code.startsWith('ERR_TLS_')) {
    return failure('handshake-failed', code, `the TLS handshake failed (${code}${message ? `: ${message}` : ''})`);
  }
  return null;
}

/** The failure a plain-text client meets at a TLS port (found by tls-probe.ts: the error itself is a reset). */
export function tlsPortFailure(tlsScheme: string): TlsFailure {
  return failure('tls-port', null, `the server speaks TLS on this port, and the URL is plain text: use ${tlsScheme}://`);
}

/** The failure a TLS client meets at a port that answers in plain text but never with TLS (found by tls-probe.ts). */
export function plainPortFailure(): TlsFailure {
  return failure(
    'not-tls',
    null,
    'the server does not speak TLS on this port (it answers in plain text): is it a plain-text port given to a TLS URL?',
  );
}

/**
 * An error that may hide a TLS problem behind a lost connection: a reset, a broken pipe, a
 * timeout, a socket closed during the handshake. Worth a closer look (tls-probe.ts) before it
 * is taken for a network fault.
 */
export function mayHideTlsFailure(error: unknown): boolean {
  const code = codeOf(error);
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return true;
  const message = error instanceof Error ? error.message : '';
  return /socket closed abruptly|connect ETIMEDOUT|socket hang up|disconnected before secure TLS|Connection is closed/i.test(message);
}

function codeOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

function failure(kind: TlsFailureKind, code: string | null, text: string): TlsFailure {
  return { kind, code, text };
}
