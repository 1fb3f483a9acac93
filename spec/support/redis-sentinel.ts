import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { redisAnswers } from './faults.js';

/**
 * A Redis Sentinel deployment of its own beside the shared Redis (6379), for spec/cluster, the
 * bench and `npm run sentinel:up`: a primary (127.0.0.1:6391), a replica (6392, started with
 * --replicaof) and three sentinels (26391-26393, `redis-server <conf> --sentinel`, quorum 2) by
 * default (other ports, and TLS only, by options), each
 * with a config file of its own in a temp dir (a sentinel rewrites its file as it learns). The data
 * nodes keep nothing on disk (as CI's Redis): a node started again comes back empty and copies the
 * current primary. Fail-over settings are short so specs see one in seconds:
 * down-after-milliseconds 2000, failover-timeout 5000. (At 1000 ms, on a loaded 2-core machine, a
 * sentinel that had not yet reconnected to a just-promoted primary declared it down, and the
 * sentinels promoted the empty node just restarted as its replica.)
 *
 * Invariant: every process started here is recorded by pid (in `pids` and, for a detached
 * deployment, in `<dir>/pids`), and `stop()` kills exactly those, whatever state the deployment
 * is in, then deletes the temp dir.
 */
export const SENTINEL_MASTER_NAME = 'mymaster';
export const PRIMARY_PORT = 6391;
export const REPLICA_PORT = 6392;
export const SENTINEL_PORTS: readonly number[] = [26391, 26392, 26393];
export const DOWN_AFTER_MS = 2000;
export const FAILOVER_TIMEOUT_MS = 5000;

export interface SentinelDeploymentOptions {
  /** The data nodes' password (requirepass and masterauth); none by default. */
  password?: string;
  /** The sentinels' own password (their requirepass); none by default. */
  sentinelPassword?: string;
  /**
   * Processes that outlive this one (`npm run sentinel:up`; scripts/sentinel.mjs down kills them
   * by the pids recorded): each in a session of its own, its output in `<dir>/<port>.log`, its pid
   * appended to `<dir>/pids`. Default false: children of this process, output kept for `logOf`.
   */
  detached?: boolean;
  /** The working directory (configs, logs, pids); default a new temp dir. */
  dir?: string;
  /** Ports of the primary, the replica and the three sentinels; default PRIMARY_PORT, REPLICA_PORT, SENTINEL_PORTS. */
  ports?: { primary: number; replica: number; sentinels: readonly number[] };
  /**
   * TLS only, everywhere: every node listens on a TLS port alone (`--port 0 --tls-port N`, the
   * ports above), replication and the sentinels' links (to the data nodes and to each other) are
   * TLS too (`tls-replication yes`), and every node requires a client certificate signed by `ca`
   * (`tls-auth-clients yes`). The nodes present `server` and, as clients, `client`; the
   * deployment's own clients (dataClient, primaryClient, sentinelClient) present `client`.
   */
  tls?: DeploymentTls;
}

/** PEM files of a TLS deployment (see spec/support/tls-certs.ts). */
export interface DeploymentTls {
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}

/** A fail-over caused by killPrimary. */
export interface FailOver {
  old: number;
  promoted: number;
  killedAt: number;
  /** ms from the SIGKILL to every sentinel naming the replica. */
  promotionMs: number;
}

/** One redis-server process of the deployment. */
interface Node {
  port: number;
  child: ChildProcess;
  output: string[];
}

export class SentinelDeployment {
  readonly masterName = SENTINEL_MASTER_NAME;
  readonly dir: string;
  readonly password: string | undefined;
  readonly sentinelPassword: string | undefined;
  readonly primaryPort: number;
  readonly replicaPort: number;
  readonly sentinelPorts: readonly number[];
  readonly tls: DeploymentTls | undefined;
  readonly #detached: boolean;
  readonly #nodes = new Map<number, Node>();

  constructor(options: SentinelDeploymentOptions = {}) {
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'celeriac-sentinel-'));
    mkdirSync(this.dir, { recursive: true });
    this.password = options.password;
    this.sentinelPassword = options.sentinelPassword;
    this.#detached = options.detached ?? false;
    this.primaryPort = options.ports?.primary ?? PRIMARY_PORT;
    this.replicaPort = options.ports?.replica ?? REPLICA_PORT;
    this.sentinelPorts = options.ports?.sentinels ?? SENTINEL_PORTS;
    this.tls = options.tls;
  }

  /** The `tls` option of this deployment's clients (the CA and the client certificate); undefined without TLS. */
  clientTls(): ConnectionOptions | undefined {
    if (!this.tls) return undefined;
    const { ca, client } = this.tls;
    return { ca: readFileSync(ca), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  }

  /** The TLS arguments of a node (redis-server flags, or sentinel config lines without the dashes). */
  private tlsDirectives(port: number): [string, string][] {
    if (!this.tls) return [['port', String(port)]];
    const { ca, server, client } = this.tls;
    return [
      ['port', '0'],
      ['tls-port', String(port)],
      ['tls-cert-file', server.cert],
      ['tls-key-file', server.key],
      ['tls-client-cert-file', client.cert],
      ['tls-client-key-file', client.key],
      ['tls-ca-cert-file', ca],
      ['tls-auth-clients', 'yes'],
      ['tls-replication', 'yes'],
    ];
  }

  /**
   * The result backend URL of the deployment, Celery's form: one `sentinel://` per sentinel,
   * `;`-separated, the data nodes' password in the first, and the master name as the query
   * parameter `master_name` (unless `masterParam` is false).
   */
  url(db = 0, masterParam = true): string {
    const auth = this.password ? `:${encodeURIComponent(this.password)}@` : '';
    const query = masterParam ? `?master_name=${this.masterName}` : '';
    return this.sentinelPorts.map((port, i) => `sentinel://${i === 0 ? auth : ''}127.0.0.1:${port}/${db}${i === 0 ? query : ''}`).join(';');
  }

  /** Pids of the processes running now. */
  get pids(): number[] {
    return [...this.#nodes.values()].filter((node) => isRunning(node.child)).map((node) => node.child.pid!);
  }

  /** Starts the five processes and resolves once every sentinel knows the primary, the replica and the two other sentinels. */
  async start(): Promise<void> {
    await this.startDataNode(this.primaryPort);
    await this.startDataNode(this.replicaPort, this.primaryPort);
    for (const port of this.sentinelPorts) await this.startSentinel(port);
    await this.waitUntilAgreed(30_000);
  }

  /** Starts a data node (again) on `port`, a replica of `replicaOf` when given; resolves once it answers PING. */
  async startDataNode(port: number, replicaOf?: number): Promise<void> {
    const args = [...this.tlsDirectives(port).flatMap(([key, value]) => [`--${key}`, value])];
    args.push('--bind', '127.0.0.1', '--save', '', '--appendonly', 'no');
    // Full copies over the socket at once (7.0 waits 5 s by default for more replicas to join).
    args.push('--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--dir', this.dir);
    if (this.password) args.push('--requirepass', this.password, '--masterauth', this.password);
    if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    this.spawnNode(port, args);
    await waitUntil(() => this.answers(port, this.password), `redis-server on ${port} to answer`, 15_000);
  }

  private async startSentinel(port: number): Promise<void> {
    const config = join(this.dir, `sentinel-${port}.conf`);
    const lines = [
      ...this.tlsDirectives(port).map(([key, value]) => `${key} ${value}`),
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      `sentinel monitor ${this.masterName} 127.0.0.1 ${this.primaryPort} 2`,
      `sentinel down-after-milliseconds ${this.masterName} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${this.masterName} ${FAILOVER_TIMEOUT_MS}`,
      `sentinel parallel-syncs ${this.masterName} 1`,
    ];
    if (this.password) lines.push(`sentinel auth-pass ${this.masterName} ${this.password}`);
    // A sentinel's requirepass is also what it presents to the other sentinels.
    if (this.sentinelPassword) lines.push(`requirepass ${this.sentinelPassword}`);
    writeFileSync(config, `${lines.join('\n')}\n`);
    this.spawnNode(port, [config, '--sentinel']);
    await waitUntil(() => this.answers(port, this.sentinelPassword), `sentinel on ${port} to answer`, 15_000);
  }

  /** Whether the node on `port` answers PING (over TLS in a TLS deployment). */
  private answers(port: number, password: string | undefined): Promise<boolean> {
    return redisAnswers(port, password, this.clientTls());
  }

  private spawnNode(port: number, args: string[]): void {
    const previous = this.#nodes.get(port);
    if (previous && isRunning(previous.child)) throw new Error(`a node already runs on ${port} (pid ${previous.child.pid})`);
    let child: ChildProcess;
    const output: string[] = [];
    if (this.#detached) {
      const log = openSync(join(this.dir, `${port}.log`), 'a');
      child = spawn('redis-server', args, { stdio: ['ignore', log, log], detached: true });
      closeSync(log);
      child.unref();
      writeFileSync(join(this.dir, 'pids'), `${child.pid}\n`, { flag: 'a' });
    } else {
      child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (chunk: Buffer): void => void output.push(chunk.toString('utf8'));
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
    }
    child.on('error', (err) => output.push(`spawn failed: ${err.message}`));
    this.#nodes.set(port, { port, child, output });
  }

  /** What the node on `port` printed (not kept for a detached deployment: see `<dir>/<port>.log`). */
  logOf(port: number): string {
    return this.#nodes.get(port)?.output.join('') ?? '';
  }

  /** A client of the data node on `port` (no reconnects; the caller disconnects it). */
  dataClient(port: number, options: RedisOptions = {}): Redis {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      password: this.password,
      tls: this.clientTls(),
      retryStrategy: () => null,
      lazyConnect: true,
      ...options,
    });
    client.on('error', () => undefined);
    return client;
  }

  /** A client that finds the primary through the sentinels, as the backend does (the caller disconnects it). */
  primaryClient(options: RedisOptions = {}): Redis {
    const client = new Redis({
      sentinels: this.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      name: this.masterName,
      password: this.password,
      sentinelPassword: this.sentinelPassword,
      ...(this.tls ? { tls: this.clientTls(), enableTLSForSentinelMode: true, sentinelTLS: this.clientTls() } : {}),
      maxRetriesPerRequest: 3,
      retryStrategy: () => 200,
      ...options,
    });
    client.on('error', () => undefined);
    return client;
  }

  /** A client of the sentinel on `port` (no reconnects; the caller connects and disconnects it). */
  sentinelClient(port: number): Redis {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      password: this.sentinelPassword,
      tls: this.clientTls(),
      retryStrategy: () => null,
      lazyConnect: true,
      enableReadyCheck: false,
      connectTimeout: 2000,
      commandTimeout: 2000,
    });
    client.on('error', () => undefined);
    return client;
  }

  /** The port the sentinel on `sentinelPort` names as the primary, or null when it cannot be asked. */
  async primaryPortSeenBy(sentinelPort: number): Promise<number | null> {
    const reply = await this.askSentinel(sentinelPort, ['get-master-addr-by-name', this.masterName]);
    return Array.isArray(reply) ? Number(reply[1]) : null;
  }

  /**
   * Resolves with the primary's port once every sentinel names the same primary, sees it as a
   * master, sees the two other sentinels and one replica that is up with its link to the primary
   * ok. Rejects after `timeoutMs` with what each sentinel saw last and the fail-over events in
   * their logs (a fail-over the spec did not cause — a node stalled past down-after-milliseconds
   * on a loaded machine — shows there).
   */
  async waitUntilAgreed(timeoutMs: number): Promise<number> {
    let seen: string[] = [];
    let agreed: number | null = null;
    try {
      await waitUntil(
        async () => {
          seen = [];
          const primaries = new Set<string | undefined>();
          let healthy = true;
          for (const port of this.sentinelPorts) {
            const fields = pairs(await this.askSentinel(port, ['master', this.masterName]));
            const replicas = await this.askSentinel(port, ['replicas', this.masterName]);
            const replicaFields = Array.isArray(replicas) ? replicas.map((replica) => pairs(replica)) : [];
            const others = fields.get('num-other-sentinels');
            const replicaList = replicaFields.map((r) => `${r.get('port')} (${r.get('flags')}, link ${r.get('master-link-status')})`);
            seen.push(
              `sentinel ${port}: primary ${fields.get('port')} (${fields.get('flags')}, ${others} other sentinels), ` +
                `replicas ${replicaList.join(', ') || 'none'}`,
            );
            primaries.add(fields.get('port'));
            healthy &&=
              fields.get('flags') === 'master' &&
              others === '2' &&
              replicaFields.length === 1 &&
              replicaFields[0].get('flags') === 'slave' &&
              replicaFields[0].get('master-link-status') === 'ok';
          }
          agreed = healthy && primaries.size === 1 ? Number([...primaries][0]) : null;
          return agreed !== null;
        },
        'the sentinels to agree on one primary with one replica',
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: ${seen.join('; ')}${this.failoverEvents()}`);
    }
    return agreed!;
  }

  /** The fail-over events in the sentinels' logs (nothing for a detached deployment, whose logs are files). */
  failoverEvents(): string {
    const events = this.sentinelPorts.flatMap((port) =>
      this.logOf(port)
        .split('\n')
        .filter((line) =>
          /[+-](sdown|odown|switch-master|try-failover|elected-leader|selected-slave|promoted-slave|convert-to-slave|tilt)\b/.test(line),
        )
        .map((line) => `${port}: ${line.trim()}`),
    );
    return events.length ? `\nsentinel events:\n${events.join('\n')}` : '';
  }

  /**
   * Resolves with the new primary's port once every sentinel names the same one, other than `old`:
   * the fail-over is over (a sentinel names the replica it promotes before the others follow).
   */
  async waitForFailover(old: number, timeoutMs: number): Promise<number> {
    let promoted: number | null = null;
    try {
      await waitUntil(
        async () => {
          const seen = await Promise.all(this.sentinelPorts.map((port) => this.primaryPortSeenBy(port)));
          promoted = seen.every((port) => port !== null && port !== old && port === seen[0]) ? seen[0] : null;
          return promoted !== null;
        },
        `a fail-over away from ${old}`,
        timeoutMs,
        50,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}${this.failoverEvents()}`);
    }
    return promoted!;
  }

  /**
   * SIGKILLs the current primary and resolves once the sentinels promoted the replica, with the
   * time that took. `restore()` then starts the killed node again as a replica of the new primary
   * and waits until the sentinels agree, so the next test starts from one primary and one replica
   * again (once; later calls resolve at once).
   */
  async killPrimary(): Promise<FailOver & { restore: () => Promise<void> }> {
    const old = await this.waitUntilAgreed(60_000);
    const killedAt = Date.now();
    await this.kill(old);
    const promoted = await this.waitForFailover(old, 60_000);
    const promotionMs = Date.now() - killedAt;
    let restoring: Promise<void> | undefined;
    return {
      old,
      promoted,
      killedAt,
      promotionMs,
      restore: () =>
        (restoring ??= (async () => {
          await this.startDataNode(old, promoted);
          await this.waitUntilAgreed(60_000);
        })()),
    };
  }

  /**
   * Starts one more sentinel on `port`, monitoring the same primary, that a client must refuse:
   * in plain text only (no TLS port), or, given `certificate` (in a TLS deployment: Redis wants
   * its CA file too), TLS only and presenting that certificate (an expired one, say). Its own
   * links to the deployment may fail; it is there to be asked. Stopped with the deployment (or by
   * `kill(port)`).
   */
  async startOddSentinel(port: number, certificate?: { cert: string; key: string }): Promise<void> {
    const config = join(this.dir, `odd-sentinel-${port}.conf`);
    const listen = certificate
      ? ['port 0', `tls-port ${port}`, `tls-cert-file ${certificate.cert}`, `tls-key-file ${certificate.key}`, 'tls-auth-clients no']
      : [`port ${port}`];
    if (certificate && this.tls) listen.push(`tls-ca-cert-file ${this.tls.ca}`);
    const lines = [...listen, 'bind 127.0.0.1', `dir ${this.dir}`, `sentinel monitor ${this.masterName} 127.0.0.1 ${this.primaryPort} 2`];
    writeFileSync(config, `${lines.join('\n')}\n`);
    this.spawnNode(port, [config, '--sentinel']);
    const tls = certificate ? { rejectUnauthorized: false } : undefined;
    await waitUntil(() => redisAnswers(port, undefined, tls), `the sentinel on ${port} to answer`, 15_000);
  }

  /** SIGKILLs the data node on `port`; resolves once it is gone. */
  async kill(port: number): Promise<void> {
    const node = this.#nodes.get(port);
    if (!node || !isRunning(node.child)) return;
    const exited = new Promise((resolve) => node.child.once('exit', resolve));
    node.child.kill('SIGKILL');
    await exited;
  }

  /** Kills every process this deployment started, by pid, and deletes its dir. Never throws. */
  async stop(): Promise<void> {
    const running = [...this.#nodes.values()].filter((node) => isRunning(node.child));
    await Promise.all(
      running.map(async (node) => {
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGKILL');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      }),
    );
    this.#nodes.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async askSentinel(port: number, args: string[]): Promise<unknown> {
    const client = this.sentinelClient(port);
    try {
      await client.connect();
      return await client.call('SENTINEL', ...args);
    } catch {
      return null;
    } finally {
      client.disconnect();
    }
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** A Sentinel reply in RESP2 form (a flat field, value list) or RESP3 (a map, as an object or Map) as a Map. */
function pairs(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (reply instanceof Map) {
    for (const [key, value] of reply) fields.set(String(key), String(value));
  } else if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply && typeof reply === 'object') {
    for (const [key, value] of Object.entries(reply)) fields.set(key, String(value));
  }
  return fields;
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
