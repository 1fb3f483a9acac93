import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Certificates for the TLS specs, made with the openssl CLI in a temporary folder:
 *
 * - `ca`: the CA every good certificate is signed by;
 * - `server`: signed by `ca`, names 127.0.0.1 and localhost (subjectAltName), valid now;
 * - `client`: signed by `ca`, for clientAuth;
 * - `otherCa`, and `otherClient` signed by it: a CA and a client certificate the servers do not trust;
 * - `expiredServer`: signed by `ca`, right names, valid only in 2020 (`openssl ca -startdate
 *   -enddate`: OpenSSL 3.0's `x509 -req` cannot date a certificate in the past);
 * - `wrongNameServer`: signed by `ca`, valid now, named only wrong.example (and 10.255.255.1):
 *   neither 127.0.0.1 nor localhost.
 *
 * Keys are EC P-256 (fast to make). The folder and every file are readable by all, since
 * RabbitMQ runs as its own user; the keys are throwaway and the folder is removed by `remove()`.
 */
export interface CertPair {
  cert: string;
  key: string;
}

export interface TestCertificates {
  dir: string;
  ca: string;
  otherCa: string;
  server: CertPair;
  client: CertPair;
  otherClient: CertPair;
  expiredServer: CertPair;
  wrongNameServer: CertPair;
  /** Deletes the folder. */
  remove(): void;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-tls-'));
  try {
    const ca = await selfSignedCa(dir, 'ca', 'celeriac test CA');
    const otherCa = await selfSignedCa(dir, 'other-ca', 'celeriac untrusted CA');
    const server = await signed(dir, 'server', ca, '/CN=localhost', 'serverAuth', 'DNS:localhost,IP:127.0.0.1');
    const client = await signed(dir, 'client', ca, '/CN=celeriac-client', 'clientAuth');
    const otherClient = await signed(dir, 'other-client', otherCa, '/CN=celeriac-untrusted-client', 'clientAuth');
    const wrongNameServer = await signed(dir, 'wrong-name', ca, '/CN=wrong.example', 'serverAuth', 'DNS:wrong.example,IP:10.255.255.1');
    const expiredServer = await expired(dir, 'expired', ca);
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      chmodSync(join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
    }
    chmodSync(dir, 0o755);
    return {
      dir,
      ca: ca.cert,
      otherCa: otherCa.cert,
      server,
      client,
      otherClient,
      expiredServer,
      wrongNameServer,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 60_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || (error as Error).message}`, { cause: error });
  }
}

async function selfSignedCa(dir: string, name: string, cn: string): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await openssl([
    'req',
    '-x509',
    ...KEY_ARGS,
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pair;
}

/** A leaf certificate signed by `ca`, valid for two days from now. */
async function signed(dir: string, name: string, ca: CertPair, subject: string, usage: string, altNames?: string): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const request = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  writeFileSync(extensions, leafExtensions(usage, altNames));
  await openssl(['req', '-new', ...KEY_ARGS, '-keyout', pair.key, '-out', request, '-subj', subject]);
  await openssl([
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    pair.cert,
    '-days',
    '2',
    '-extfile',
    extensions,
  ]);
  return pair;
}

/** A server certificate signed by `ca` with the right names, valid only in 2020. */
async function expired(dir: string, name: string, ca: CertPair): Promise<CertPair> {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const request = join(dir, `${name}.csr`);
  const db = join(dir, `${name}-ca-db`);
  mkdirSync(db);
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  const config = join(db, 'ca.cnf');
  writeFileSync(
    config,
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${join(db, 'index.txt')}`,
      `serial = ${join(db, 'serial')}`,
      `new_certs_dir = ${db}`,
      'default_md = sha256',
      'policy = any',
      'copy_extensions = none',
      'unique_subject = no',
      'x509_extensions = leaf',
      '[any]',
      'commonName = supplied',
      '[leaf]',
      leafExtensions('serverAuth', 'DNS:localhost,IP:127.0.0.1'),
    ].join('\n'),
  );
  await openssl(['req', '-new', ...KEY_ARGS, '-keyout', pair.key, '-out', request, '-subj', '/CN=localhost']);
  await openssl([
    'ca',
    '-batch',
    '-config',
    config,
    '-cert',
    ca.cert,
    '-keyfile',
    ca.key,
    '-in',
    request,
    '-out',
    pair.cert,
    '-notext',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ]);
  return pair;
}

function leafExtensions(usage: string, altNames?: string): string {
  return [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${usage}`,
    ...(altNames ? [`subjectAltName = ${altNames}`] : []),
    '',
  ].join('\n');
}
