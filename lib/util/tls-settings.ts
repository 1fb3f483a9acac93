import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors/errors.js';
import { redactUrl, schemeOf } from './url.js';

/**
 * TLS settings of one connection target (the broker, or the result backend), as users give them:
 * celeriac's camelCase names or Celery's (`broker_use_ssl`: ca_certs, certfile, keyfile,
 * cert_reqs, server_hostname; `redis_backend_use_ssl`: the same with an `ssl_` prefix). `true`
 * (Celery's `broker_use_ssl = True`) means the defaults.
 */
export interface TlsOptions {
  /** PEM file of the CA certificate(s) that sign the server's certificate. Default: Node's bundled root CAs. */
  caFile?: string;
  /** PEM file of this client's certificate, for servers that ask for one. Needs keyFile. */
  certFile?: string;
  /** PEM file of the private key of certFile (unencrypted). Needs certFile. */
  keyFile?: string;
  /**
   * 'required' (default): the server's certificate must chain to a trusted CA, be in its validity
   * period and name the host. 'optional': the same (as Python's CERT_OPTIONAL on a client).
   * 'none': nothing is checked — anyone on the path can pose as the server; logged as a warning.
   * Celery's spellings CERT_REQUIRED, CERT_OPTIONAL, CERT_NONE are accepted too.
   */
  certReqs?: CertReqs;
  /** The name the server's certificate must carry (and the SNI sent). Default: the URL's host. */
  serverHostname?: string;
  ca_certs?: string;
  certfile?: string;
  keyfile?: string;
  cert_reqs?: string;
  server_hostname?: string;
  ssl_ca_certs?: string;
  ssl_certfile?: string;
  ssl_keyfile?: string;
  ssl_cert_reqs?: string;
  ssl_server_hostname?: string;
}

export type CertReqs = 'required' | 'optional' | 'none';

/** Options for `tls.connect`, as amqplib and ioredis pass them on. Files are read already. */
export interface TlsSocketOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/**
 * Resolved TLS settings of a connection whose URL scheme is amqps:// or rediss://. The files were
 * read once, when resolved; `socketOptions` holds their contents (a config report shows a Buffer
 * only as `<Buffer>`).
 */
export interface TlsConfig {
  certReqs: CertReqs;
  caFile: string | null;
  certFile: string | null;
  keyFile: string | null;
  serverHostname: string | null;
  socketOptions: TlsSocketOptions;
}

type Setting = 'caFile' | 'certFile' | 'keyFile' | 'certReqs' | 'serverHostname';

/** Every accepted name of each setting: celeriac's, Celery's broker_use_ssl, redis_backend_use_ssl / URL parameter. */
const NAMES: Record<Setting, readonly string[]> = {
  caFile: ['caFile', 'ca_certs', 'ssl_ca_certs'],
  certFile: ['certFile', 'certfile', 'ssl_certfile'],
  keyFile: ['keyFile', 'keyfile', 'ssl_keyfile'],
  certReqs: ['certReqs', 'cert_reqs', 'ssl_cert_reqs'],
  serverHostname: ['serverHostname', 'server_hostname', 'ssl_server_hostname'],
};
const SETTING_OF = new Map(Object.entries(NAMES).flatMap(([setting, names]) => names.map((name) => [name, setting as Setting])));

/** URL query parameters read as TLS settings (kombu's and Celery's names); removed before connecting. */
export const TLS_URL_PARAMETERS: readonly string[] = Object.values(NAMES).map((names) => names[2]);

/** Environment variables read as TLS settings when the app option is not given: `${prefix}CA_FILE` and so on. */
const ENV_SUFFIX: Record<Setting, string> = {
  caFile: 'CA_FILE',
  certFile: 'CERT_FILE',
  keyFile: 'KEY_FILE',
  certReqs: 'CERT_REQS',
  serverHostname: 'SERVER_HOSTNAME',
};

const CERT_REQS: Record<string, CertReqs> = {
  required: 'required',
  optional: 'optional',
  none: 'none',
  CERT_REQUIRED: 'required',
  CERT_OPTIONAL: 'optional',
  CERT_NONE: 'none',
};

const TLS_SCHEMES = new Set(['amqps', 'rediss']);

/** One setting's value and where it was given, for error messages. */
interface Given {
  value: string;
  source: string;
}

export interface TlsSource {
  /** The option holding the URL ('broker', 'backend'): named in errors about the URL's parameters. */
  urlOption: string;
  url: string;
  /** The option holding the settings ('brokerTls'), and its value (undefined/null: not given). */
  option: string;
  given: unknown;
  /** Environment variable prefix ('CELERIAC_BROKER_TLS_'), read when `given` is undefined. */
  envPrefix?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * For a URL whose scheme cannot say TLS (sentinel://, Celery's `redis_backend_use_ssl` and
   * `sentinel_kwargs`): TLS is on when settings are given (the option, `true`, or the
   * environment), off when none are. Default false: the scheme decides (amqps://, rediss://).
   */
  settingsTurnTlsOn?: boolean;
}

/**
 * The TLS settings of `url`: null for a URL without TLS (amqp://, redis://, memory://...) given
 * no TLS settings (or, with `settingsTurnTlsOn`, for any URL given none); otherwise resolved
 * from, per setting, the URL's query parameters (as Celery reads them, they win), else the
 * option, else (option not given) the environment.
 *
 * Throws ConfigError, naming the option, URL parameter or variable: TLS settings for a URL
 * without TLS (no silent plain text: the scheme says amqps:// or rediss://), an unknown setting,
 * a bad cert_reqs, a key without a certificate or the reverse, a file that cannot be read or is
 * not PEM, a key that does not match its certificate.
 */
export function resolveTls(source: TlsSource): TlsConfig | null {
  const settings = new Map<Setting, Given>();
  const fromOption = readOption(source.option, source.given);
  const fromEnv = source.given === undefined || source.given === null ? readEnv(source.envPrefix, source.env) : new Map<Setting, Given>();
  // With settingsTurnTlsOn the URL's parameters are not read: the caller refuses them (they would be ambiguous).
  const fromUrl = source.settingsTurnTlsOn === true ? new Map<Setting, Given>() : readUrl(source.urlOption, source.url);
  for (const [setting, given] of [...fromEnv, ...fromOption, ...fromUrl]) settings.set(setting, given);
  const tlsScheme = TLS_SCHEMES.has(schemeOf(source.url));
  if (source.settingsTurnTlsOn === true) {
    if (settings.size === 0 && source.given !== true) return null;
  } else if (!tlsScheme) {
    const first = [...settings.values()][0] ?? (source.given === true ? { source: source.option, value: 'true' } : undefined);
    if (first === undefined) return null;
    throw new ConfigError(
      first.source,
      `TLS settings need a TLS URL (amqps:// or rediss://), but ${source.urlOption} is ${redactUrl(source.url)}: ` +
        'change the scheme to turn TLS on (a plain-text URL is never upgraded, nor TLS turned off)',
    );
  }
  const certReqs = settings.has('certReqs') ? parseCertReqs(settings.get('certReqs')!) : 'required';
  const caFile = settings.get('caFile');
  const certFile = settings.get('certFile');
  const keyFile = settings.get('keyFile');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const set = (certFile ?? keyFile)!;
    throw new ConfigError(set.source, 'a client certificate needs both its certificate file and its key file (certFile and keyFile)');
  }
  const serverHostname = settings.get('serverHostname');
  if (serverHostname !== undefined && serverHostname.value.trim() === '') {
    throw new ConfigError(serverHostname.source, 'expected a host name');
  }
  const socketOptions: TlsSocketOptions = { rejectUnauthorized: certReqs !== 'none' };
  if (caFile) socketOptions.ca = readPem(caFile, 'CA certificate');
  if (certFile && keyFile) {
    socketOptions.cert = readPem(certFile, 'client certificate');
    socketOptions.key = readPem(keyFile, 'client key');
  }
  if (serverHostname) socketOptions.servername = serverHostname.value;
  if (caFile) checkLoads(caFile, { ca: socketOptions.ca });
  if (certFile) checkLoads(certFile, { cert: socketOptions.cert, key: socketOptions.key });
  return {
    certReqs,
    caFile: caFile?.value ?? null,
    certFile: certFile?.value ?? null,
    keyFile: keyFile?.value ?? null,
    serverHostname: serverHostname?.value ?? null,
    socketOptions,
  };
}

/** The URL without its TLS query parameters (TLS_URL_PARAMETERS), for the client library. */
export function withoutTlsParameters(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (!TLS_URL_PARAMETERS.some((name) => parsed.searchParams.has(name))) return url;
  for (const name of TLS_URL_PARAMETERS) parsed.searchParams.delete(name);
  return parsed.toString();
}

function readOption(option: string, given: unknown): Map<Setting, Given> {
  const settings = new Map<Setting, Given>();
  if (given === undefined || given === null || given === true) return settings;
  if (given === false) {
    throw new ConfigError(
      option,
      'false cannot turn TLS off: the URL scheme decides (amqps:// or rediss:// for TLS); leave the option out',
    );
  }
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError(
      option,
      `expected an object such as { caFile, certFile, keyFile, certReqs, serverHostname }, got ${JSON.stringify(given)}`,
    );
  }
  for (const [name, value] of Object.entries(given as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    const setting = SETTING_OF.get(name);
    if (setting === undefined) {
      throw new ConfigError(`${option}.${name}`, `unknown TLS setting; known: ${Object.values(NAMES).flat().join(', ')}`);
    }
    if (typeof value !== 'string' || value === '') {
      throw new ConfigError(`${option}.${name}`, `expected a non-empty string, got ${JSON.stringify(value)}`);
    }
    const earlier = settings.get(setting);
    if (earlier !== undefined && earlier.value !== value) {
      throw new ConfigError(`${option}.${name}`, `contradicts ${earlier.source} (${JSON.stringify(earlier.value)}): give one of them`);
    }
    settings.set(setting, { value, source: `${option}.${name}` });
  }
  return settings;
}

function readUrl(urlOption: string, url: string): Map<Setting, Given> {
  const settings = new Map<Setting, Given>();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return settings;
  }
  for (const name of TLS_URL_PARAMETERS) {
    const value = parsed.searchParams.get(name);
    if (value === null) continue;
    const source = `${urlOption} URL parameter ${name}`;
    if (value === '') throw new ConfigError(source, 'expected a value');
    settings.set(SETTING_OF.get(name)!, { value, source });
  }
  return settings;
}

function readEnv(prefix: string | undefined, env: NodeJS.ProcessEnv = process.env): Map<Setting, Given> {
  const settings = new Map<Setting, Given>();
  if (prefix === undefined) return settings;
  for (const [setting, suffix] of Object.entries(ENV_SUFFIX) as [Setting, string][]) {
    const value = env[`${prefix}${suffix}`];
    if (value) settings.set(setting, { value, source: `$${prefix}${suffix}` });
  }
  return settings;
}

function parseCertReqs(given: Given): CertReqs {
  const value = CERT_REQS[given.value];
  if (value === undefined) {
    throw new ConfigError(
      given.source,
      `expected required, optional or none (or CERT_REQUIRED, CERT_OPTIONAL, CERT_NONE), got ${JSON.stringify(given.value)}`,
    );
  }
  return value;
}

/** Node loads the PEM (a CA file of certificates; a certificate with its matching key), else ConfigError. */
function checkLoads(file: Given, pems: { ca?: Buffer; cert?: Buffer; key?: Buffer }): void {
  try {
    createSecureContext(pems);
  } catch (error) {
    throw new ConfigError(file.source, `${file.value} does not load: ${(error as Error).message}`);
  }
}

function readPem(file: Given, what: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file.value);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(file.source, `cannot read the ${what} file ${file.value} (${code})`);
  }
  if (!content.includes('-----BEGIN ')) throw new ConfigError(file.source, `the ${what} file ${file.value} holds no PEM block`);
  return content;
}
