import { Redis } from 'ioredis';
import { startProcess, type RunningProcess } from './processes.js';
import { portOpen, waitFor } from './faults.js';

export interface RedisTlsServerOptions {
  /** Plain-text port (127.0.0.1), for the spec's own checks and for CONFIG SET. */
  port: number;
  /** TLS port (127.0.0.1). */
  tlsPort: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** `--tls-auth-clients yes`: a client certificate signed by caFile is required. */
  requireClientCertificate: boolean;
}

/**
 * A redis-server of the spec's own beside the shared one, with a TLS listener (Debian's
 * redis-server is built with TLS), run in the foreground as a child process: `stop()` ends it by
 * its pid. Nothing is kept on disk.
 */
export class RedisTlsServer {
  private process: RunningProcess | null = null;

  constructor(readonly options: RedisTlsServerOptions) {}

  /** rediss://127.0.0.1:<tlsPort>/0 */
  get tlsUrl(): string {
    return `rediss://127.0.0.1:${this.options.tlsPort}/0`;
  }

  /** redis://127.0.0.1:<port>/0 (plain text, same server). */
  get plainUrl(): string {
    return `redis://127.0.0.1:${this.options.port}/0`;
  }

  get pid(): number | undefined {
    return this.process?.child.pid;
  }

  async start(): Promise<void> {
    const { port, tlsPort, caFile, certFile, keyFile, requireClientCertificate } = this.options;
    // A server left on these ports by an interrupted run would answer in its place.
    if ((await portOpen(port)) || (await portOpen(tlsPort)))
      throw new Error(`ports ${port}/${tlsPort} are taken: a redis-server left running?`);
    this.process = startProcess(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certFile,
        '--tls-key-file',
        keyFile,
        '--tls-ca-cert-file',
        caFile,
        '--tls-auth-clients',
        requireClientCertificate ? 'yes' : 'no',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { env: process.env },
    );
    await waitFor(async () => (await portOpen(port)) && (await portOpen(tlsPort)), `redis-server on ${port}/${tlsPort}`, 30_000, 100);
  }

  /** Runs one command over the plain-text port. */
  async command(...args: string[]): Promise<unknown> {
    const client = new Redis(this.plainUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      return await client.call(args[0], ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  /** Serves another certificate from now on (new TLS connections; Redis reloads TLS on CONFIG SET). */
  async serveCertificate(certFile: string, keyFile: string): Promise<void> {
    await this.command('CONFIG', 'SET', 'tls-cert-file', certFile, 'tls-key-file', keyFile);
  }

  /** Closes every normal client connection (not the one asking). Resolves with how many. */
  async killClients(): Promise<number> {
    return Number(await this.command('CLIENT', 'KILL', 'TYPE', 'normal'));
  }

  /** Local ports of the client connections, the asking one left out. */
  async clientPorts(): Promise<number[]> {
    const list = String(await this.command('CLIENT', 'LIST'));
    return list
      .split('\n')
      .filter((line) => line.trim() !== '' && !/ cmd=client\|list /.test(line))
      .map((line) => Number(/ laddr=[^ ]*:(\d+) /.exec(line)?.[1]));
  }

  /** SIGTERM, SIGKILL if it does not exit within 10 s. Safe to call when not started. */
  async stop(): Promise<void> {
    const running = this.process;
    this.process = null;
    if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
    running.child.kill('SIGTERM');
    const timer = setTimeout(() => running.child.kill('SIGKILL'), 10_000);
    await running.exited;
    clearTimeout(timer);
  }
}
