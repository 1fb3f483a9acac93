import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { portOpen, waitFor } from './faults.js';

const run = promisify(execFile);

/**
 * One RabbitMQ node started beside the shared one (rabbit@localhost on 5672), for the specs of
 * spec/cluster and for `npm run cluster:up`. Each node has its own Erlang node name, AMQP and
 * distribution ports, data and log folders (owned by the rabbitmq user, as the server runs as
 * it), config file and an empty enabled-plugins file, so it never touches the shared node's state.
 *
 * Invariants:
 * - the node's folder is `${baseDir}/${name}`; `start()` on a fresh node wipes it (a node left by
 *   an earlier run under the same name is stopped first), `restart()` keeps it, so a restarted
 *   node rejoins its cluster with its data;
 * - `pid` is the Erlang VM's OS pid, read from the pid file the server writes once booted: kill,
 *   pause and resume act on that pid and nothing else;
 * - every method waits for its effect (a started node accepts AMQP connections on its ports, a
 *   stopped one has exited) so specs never sleep;
 * - waiting is done with cheap probes (the pid file, a TCP connect to the AMQP port, the
 *   process table), not rabbitmqctl: every rabbitmqctl call starts an Erlang VM, which takes
 *   seconds on a busy machine.
 */
export interface RabbitNodeOptions {
  /** Erlang short name; the node is `${name}@localhost`. */
  name: string;
  /** The plain AMQP port (127.0.0.1). */
  port: number;
  /** Erlang distribution port (default port + 20000). */
  distPort?: number;
  /** Folder under which the node's own folder is made (default /tmp/celeriac-rabbit). */
  baseDir?: string;
  /** A TLS listener: RabbitMQ's `listeners.ssl` with these files. */
  tls?: RabbitTlsListener;
  /** More rabbitmq.conf lines (sysctl format). */
  extraConfig?: string[];
}

export interface RabbitTlsListener {
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Ask for and check a client certificate (`verify_peer`, `fail_if_no_peer_cert`). Default false. */
  requireClientCertificate?: boolean;
}

const DEFAULT_BASE_DIR = '/tmp/celeriac-rabbit';
/** How long `stop()` waits for a node to exit after SIGTERM before it kills it. */
const STOP_GRACE_MS = 30_000;

export class RabbitNode {
  readonly name: string;
  readonly node: string;
  readonly port: number;
  readonly distPort: number;
  readonly dir: string;
  private osPid: number | null = null;
  /** The boot in progress, if any: a second start or restart waits for it instead of booting again. */
  private booting: Promise<void> | null = null;

  constructor(private readonly options: RabbitNodeOptions) {
    this.name = options.name;
    this.node = `${options.name}@localhost`;
    this.port = options.port;
    this.distPort = options.distPort ?? options.port + 20_000;
    this.dir = join(options.baseDir ?? DEFAULT_BASE_DIR, options.name);
  }

  /** amqp://guest:guest@127.0.0.1:<port> (guest may log in over 127.0.0.1 on these nodes). */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** The TLS listener's port; null for a node without one. */
  get tlsPort(): number | null {
    return this.options.tls?.port ?? null;
  }

  /** amqps://guest:guest@127.0.0.1:<TLS port>; the client's TLS settings are the caller's. */
  get tlsUrl(): string {
    if (this.tlsPort === null) throw new Error(`rabbit node ${this.node} has no TLS listener`);
    return `amqps://guest:guest@127.0.0.1:${this.tlsPort}`;
  }

  /** The node's URL for `scheme`: amqp:// on the plain port, amqps:// on the TLS one. */
  urlFor(scheme: 'amqp' | 'amqps'): string {
    return scheme === 'amqps' ? this.tlsUrl : this.url;
  }

  /** The port a client of `scheme` connects to. */
  portFor(scheme: 'amqp' | 'amqps'): number {
    if (scheme === 'amqp') return this.port;
    if (this.tlsPort === null) throw new Error(`rabbit node ${this.node} has no TLS listener`);
    return this.tlsPort;
  }

  /** True from a completed start until a kill or stop through this object. */
  get isRunning(): boolean {
    return this.osPid !== null;
  }

  /** The Erlang VM's OS pid while the node runs. */
  get pid(): number {
    if (this.osPid === null) throw new Error(`rabbit node ${this.node} is not running`);
    return this.osPid;
  }

  /** Starts the node from an empty data folder (stopping a leftover node of the same name first). */
  async start(): Promise<void> {
    // A node of the same name left by an interrupted run would hold the ports and the name.
    if (this.attach()) await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(join(this.dir, 'mnesia'), { recursive: true });
    mkdirSync(join(this.dir, 'log'), { recursive: true });
    writeFileSync(join(this.dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(this.dir, 'rabbitmq.conf'), this.config());
    chownTree(this.dir);
    await this.boot();
  }

  /**
   * Starts a node that ran before (after kill or stop) on its data: it rejoins its cluster. While
   * a boot is in progress (a test's restart that its clean-up also asks for) it waits for that one.
   */
  async restart(): Promise<void> {
    await this.boot();
  }

  /** True while a start or restart through this object has not finished. */
  get isBooting(): boolean {
    return this.booting !== null;
  }

  /** Stops a node started earlier, by another process, under this name (`npm run cluster:down`). */
  static async stopByName(name: string, baseDir?: string): Promise<void> {
    const node = new RabbitNode({ name, port: 0, baseDir });
    if (node.attach()) await node.stop();
  }

  /**
   * True if the node's folder holds this node's config as `start()` writes it: a node of the same
   * name started since with other options (another listener, other certificates) has another.
   */
  hasOwnConfig(): boolean {
    try {
      return readFileSync(join(this.dir, 'rabbitmq.conf'), 'utf8') === this.config();
    } catch {
      return false;
    }
  }

  /** rabbitmqctl against this node. */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run('rabbitmqctl', ['-n', this.node, ...args], { timeout: 120_000 });
    return stdout;
  }

  /**
   * A clean stop of the whole node (Erlang VM included): SIGTERM, which the VM takes as
   * `init:stop()` (what `rabbitmqctl stop` asks for, without starting a CLI VM). A node that has
   * not exited after STOP_GRACE_MS (frozen, or stuck) is killed.
   */
  async stop(): Promise<void> {
    const pid = this.osPid;
    if (pid === null) return;
    if (processAlive(pid)) {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
    }
    const deadline = Date.now() + STOP_GRACE_MS;
    while (processAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    await this.waitGone();
  }

  /** SIGKILL of the Erlang VM: the node dies without a word to its peers or clients. */
  async kill(): Promise<void> {
    process.kill(this.pid, 'SIGKILL');
    await this.waitGone();
  }

  /** SIGSTOP: the node freezes (sockets stay open, nothing answers) until `resume()`. */
  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** `rabbitmqctl stop_app`: the VM stays up, the AMQP listener and its connections go. */
  async stopApp(): Promise<void> {
    await this.ctl('stop_app');
  }

  async startApp(): Promise<void> {
    await this.ctl('start_app');
    await this.awaitListening();
  }

  /** `rabbitmqctl resume_listeners`: undoes `suspend_listeners` (a no-op on a node whose listeners are open). */
  async resumeListeners(): Promise<void> {
    await this.ctl('resume_listeners');
    await this.awaitListening();
  }

  /** Waits until every listener accepts connections. */
  async awaitListening(timeoutMs = 120_000): Promise<void> {
    await waitFor(() => this.listening(), `${this.node} AMQP ports ${this.listenerPorts().join(', ')}`, timeoutMs, 200);
  }

  /** Every AMQP listener's port: the plain one, and the TLS one if the node has it. */
  private listenerPorts(): number[] {
    return this.tlsPort === null ? [this.port] : [this.port, this.tlsPort];
  }

  /**
   * True while every listener accepts connections (RabbitMQ opens them together, once booted):
   * false for a node whose app is stopped or whose listeners are suspended.
   */
  async listening(): Promise<boolean> {
    for (const port of this.listenerPorts()) if (!(await portOpen(port))) return false;
    return true;
  }

  private config(): string {
    const lines = [
      `listeners.tcp.default = 127.0.0.1:${this.port}`,
      // The test nodes are reached only over 127.0.0.1; guest may log in there as on the shared node.
      'loopback_users = none',
      // A frozen or killed peer is noticed in seconds, not the default minute.
      'cluster_partition_handling = pause_minority',
      ...(this.options.extraConfig ?? []),
    ];
    const tls = this.options.tls;
    if (tls) {
      lines.push(
        `listeners.ssl.default = 127.0.0.1:${tls.port}`,
        `ssl_options.cacertfile = ${tls.caFile}`,
        `ssl_options.certfile = ${tls.certFile}`,
        `ssl_options.keyfile = ${tls.keyFile}`,
        `ssl_options.verify = ${tls.requireClientCertificate ? 'verify_peer' : 'verify_none'}`,
        `ssl_options.fail_if_no_peer_cert = ${tls.requireClientCertificate ? 'true' : 'false'}`,
      );
    }
    return lines.join('\n') + '\n';
  }

  private environment(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(this.dir, 'pid'),
      // Feature flags of a node's own, so a new node never reads the shared node's file.
      RABBITMQ_FEATURE_FLAGS_FILE: join(this.dir, 'feature_flags'),
    };
  }

  /**
   * Starts the server and waits until it accepts AMQP connections: RabbitMQ opens its listeners
   * last, once the node has booted (and, in a cluster, joined it). A VM that exits first fails
   * the wait at once.
   */
  private boot(): Promise<void> {
    this.booting ??= this.bootOnce().finally(() => {
      this.booting = null;
    });
    return this.booting;
  }

  private async bootOnce(): Promise<void> {
    const pidFile = join(this.dir, 'pid');
    rmSync(pidFile, { force: true });
    await run('rabbitmq-server', ['-detached'], { env: this.environment(), timeout: 60_000 });
    const booting = `${this.node} to boot (log: ${join(this.dir, 'log')})`;
    let pid = 0;
    await waitFor(
      () => {
        try {
          pid = Number(readFileSync(pidFile, 'utf8').trim());
        } catch {
          return false;
        }
        return Number.isInteger(pid) && pid > 0;
      },
      `${booting}: its pid file`,
      120_000,
      100,
    );
    await waitFor(
      async () => {
        if (!processAlive(pid)) throw new Error(`${this.node} (pid ${pid}) exited while booting; log: ${join(this.dir, 'log')}`);
        return this.listening();
      },
      `${booting}: AMQP ports ${this.listenerPorts().join(', ')}`,
      180_000,
      200,
    );
    this.osPid = pid;
  }

  private async waitGone(): Promise<void> {
    const pid = this.osPid;
    this.osPid = null;
    if (pid === null) return;
    await waitFor(() => !processAlive(pid), `${this.node} (pid ${pid}) to exit`, 60_000, 100);
  }

  /**
   * Takes over a node of this name started earlier (by another process, or by this object and
   * since lost track of): true if one runs, which is then resumed if it was frozen. Its pid is
   * read from the node's pid file, so a node restarted elsewhere is found under its new pid.
   */
  attach(): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.dir, 'pid'), 'utf8').trim());
    } catch {
      return false;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return false;
    this.osPid = pid;
    if (isStopped(pid)) process.kill(pid, 'SIGCONT');
    return true;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed VM may linger as a zombie until its parent (init) reaps it.
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function isStopped(pid: number): boolean {
  try {
    return /^\d+ \([^)]*\) T/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The server runs as the rabbitmq user; its folders must be that user's. */
function chownTree(dir: string): void {
  const { uid: rabbitUid, gid: rabbitGid } = rabbitmqUser();
  for (const path of [dir, join(dir, 'mnesia'), join(dir, 'log'), join(dir, 'enabled_plugins'), join(dir, 'rabbitmq.conf')]) {
    chownSync(path, rabbitUid, rabbitGid);
  }
}

function rabbitmqUser(): { uid: number; gid: number } {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('rabbitmq:'));
  if (!entry) throw new Error('no rabbitmq user in /etc/passwd: is rabbitmq-server installed?');
  const fields = entry.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}
