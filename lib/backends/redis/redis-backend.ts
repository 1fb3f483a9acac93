import type { Redis } from '../../util/ioredis.js';
import { BackendError, ClosedError } from '../../errors/errors.js';
import { redactUrl } from '../../util/url.js';
import type { ChordJoin } from '../chord-counter.js';
import { KeyValueBackend, type ChannelSubscriber, type SubscriberEvents } from '../key-value-backend.js';
import type { BackendOptions, ResultBackend } from '../result-backend.js';
import { closeClient, commandConnection, isRedisRefusal } from './connection.js';
import { PipelineWhenBusy } from './pipeline-when-busy.js';
import { ReplicaAcknowledgement } from './replica-acknowledgement.js';
import { backendTls } from './tls-options.js';
import { TlsRefusals, type TlsRoute } from './tls-refusals.js';
import { withoutTlsParameters } from '../../util/tls-settings.js';
import { endpointOf } from '../../util/tls-probe.js';
import { defineScripts, type ScriptedClient } from './scripts.js';
import { SubscriptionBatcher } from './subscription-batcher.js';
import { ReadBatcher } from './read-batcher.js';

export { isRedisRefusal } from './connection.js';

/**
 * `redis://[[user]:password@]host[:port][/db]`, `rediss://` (TLS) and
 * `sentinel://[[user]:password@]host[:port][/db];sentinel://...` (the primary found through Redis
 * Sentinel; see sentinel-url.ts) — Celery's Redis result backend, readable and writable by
 * Python Celery. Constructing does no I/O (a bad sentinel:// URL throws ConfigError); the command
 * connection opens on the first command and the subscriber connection on the first wait.
 */
export function createRedisBackend(url: string, options: BackendOptions): ResultBackend {
  return new RedisBackend(url, options);
}

/** Where revocations live: member = task id, score = when its revocation expires (ms). */
export const REVOKED_KEY = 'celeriac-revoked';

/** Beat's keys for one app: the leader lock and the hash of last-run due times. */
function beatKeys(scope: string): { lock: string; runs: string } {
  return { lock: `celeriac-beat:${scope}:leader`, runs: `celeriac-beat:${scope}:last-run` };
}

/** A TTL as a script argument: whole ms, at least `min`. */
function ttlArg(ttlMs: number, min: number): string {
  return String(Math.max(min, Math.ceil(ttlMs)));
}

/**
 * One command connection for results, chords, claims and the stores beside them (revocations,
 * beat state, redelivery counts), plus one subscriber connection for waits. Every command goes
 * through `command` (reads) or `write`: one error report (BackendError naming the URL, or
 * ClosedError), one pipelining policy (PipelineWhenBusy); with resultBackendWaitForReplicas, a
 * write resolves only once the replicas acknowledged it (ReplicaAcknowledgement).
 */
class RedisBackend extends KeyValueBackend {
  private readonly client: ScriptedClient;
  private readonly pipelining: PipelineWhenBusy;
  /** Every key read: the reads of one burst go as MGETs (see ReadBatcher). */
  private readonly reads = new ReadBatcher(
    (key) => this.command('GET', (c) => c.get(key)),
    (keys) => this.command('MGET', (c) => c.mget(keys)),
  );
  /** Passwords of the URL and options, scrubbed from every message this class builds. */
  private readonly secrets: string[];
  /** sentinel://: the name Sentinel monitors the primary under (named in log lines). */
  private readonly sentinelName: string | undefined;
  /** WAIT after writes; undefined when resultBackendWaitForReplicas is not set. */
  private readonly acknowledgement: ReplicaAcknowledgement | undefined;
  private lastConnectionError: string | undefined;
  private closed = false;
  /**
   * Where the connections go, for TlsRefusals (TLS handshakes that cannot succeed, per connection;
   * the latest names the cause in errors).
   */
  private readonly tlsRoute: TlsRoute;
  private readonly commandTls: TlsRefusals;

  constructor(url: string, options: BackendOptions) {
    super(redactUrl(withoutTlsParameters(url)), options);
    const tls = backendTls(url, options.tls);
    const { client, secrets, sentinelName, sentinel } = commandConnection(url, options.connection, tls);
    for (const [settings, servers] of [
      [tls, sentinel ? ' for the data nodes' : ''],
      [sentinel?.sentinelTls ?? null, ' for the sentinels'],
    ] as const) {
      if (settings?.certReqs !== 'none') continue;
      this.logger.warn(
        `result backend ${this.url}: TLS certificate verification is off${servers} (ssl_cert_reqs=none): ` +
          "the server's identity is not checked, and anyone on the network path can pose as it",
      );
    }
    if (sentinel) this.tlsRoute = { sentinel };
    else {
      const endpoint = endpointOf(url, 6379);
      this.tlsRoute = { dataNode: endpoint && { endpoint, tls: tls?.socketOptions ?? null, tlsScheme: 'rediss' } };
    }
    this.secrets = secrets;
    this.sentinelName = sentinelName;
    this.client = defineScripts(client);
    this.pipelining = new PipelineWhenBusy(this.client);
    const wait = options.waitForReplicas;
    if (wait) {
      this.acknowledgement = new ReplicaAcknowledgement(this.client, wait, (replicas, timeoutMs) =>
        this.pipelining.issue((c) => c.wait(replicas, timeoutMs)),
      );
    }
    this.commandTls = this.watch(this.client, 'command');
  }

  /** Issues one command (or MULTI) on the command connection; failures become `failure(name)`. */
  private async command<T>(name: string, issue: (client: ScriptedClient) => Promise<T>): Promise<T> {
    this.commandTls.reopen();
    try {
      return await this.pipelining.issue(() => issue(this.client));
    } catch (err) {
      throw this.failure(name, err);
    }
  }

  /** A command that changes data: `command`, then the replicas' acknowledgement when one is required. */
  private async write<T>(name: string, issue: (client: ScriptedClient) => Promise<T>): Promise<T> {
    const reply = await this.command(name, issue);
    await this.replicated(name);
    return reply;
  }

  /** Resolves once the writes answered so far are on the required replicas (at once without resultBackendWaitForReplicas). */
  private async replicated(name: string): Promise<void> {
    if (!this.acknowledgement) return;
    try {
      await this.acknowledgement.confirm();
    } catch (err) {
      throw this.failure(name, err);
    }
  }

  /** Runs a MULTI of writes built by `build`; any command's error fails the whole call. */
  private async transaction(name: string, build: (tx: ReturnType<Redis['multi']>) => void): Promise<unknown[]> {
    const replies = await this.command(name, (client) => {
      const tx = client.multi();
      build(tx);
      return tx.exec();
    });
    if (replies === null) throw this.failure(name, new Error('transaction aborted'));
    for (const [err] of replies) if (err) throw this.failure(name, err);
    await this.replicated(name);
    return replies.map(([, reply]) => reply);
  }

  protected join(join: ChordJoin): Promise<string[] | null> {
    const { keys } = join;
    const score = Number.isFinite(join.score) ? String(join.score) : '+inf';
    return this.write('chord join', (c) =>
      c.chordJoin(keys.joined, keys.extra, keys.size, keys.ids, keys.claim, join.taskId, join.member, score, ttlArg(join.ttlMs, 0)),
    );
  }

  claim(key: string, value: string, ttlMs: number): Promise<string | null> {
    return this.write('claim', (c) => c.claimKey(key, value, ttlArg(ttlMs, 1)));
  }

  async swapClaim(key: string, expected: string, next: string | null, ttlMs: number): Promise<boolean> {
    return (await this.write('swap claim', (c) => c.swapClaim(key, expected, next ?? '', ttlArg(ttlMs, 1)))) === 1;
  }

  protected get(key: string): Promise<string | null> {
    return this.reads.get(key);
  }

  /**
   * One MULTI: SETEX (PSETEX when the TTL is not whole seconds; SET when 0) and PUBLISH of the
   * same value on the channel named by the key, as Celery's RedisBackend.set does. Both apply or
   * neither does, so a stored result is always announced.
   */
  protected async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.transaction('SET+PUBLISH', (tx) => {
      if (ttlMs <= 0) tx.set(key, value);
      else if (ttlMs % 1000 === 0) tx.setex(key, ttlMs / 1000, value);
      else tx.psetex(key, Math.ceil(ttlMs), value);
      tx.publish(key, value);
    });
  }

  protected async setUnlessSucceeded(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.write('store', (c) => c.storeUnlessSucceeded(key, value, ttlArg(ttlMs, 0)))) === 1;
  }

  /** INCRBY and PEXPIRE in one MULTI. */
  protected async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const [count] = await this.transaction('INCRBY', (tx) => {
      tx.incrby(key, by);
      if (ttlMs > 0) tx.pexpire(key, Math.ceil(ttlMs));
    });
    return Number(count);
  }

  protected async delete(key: string): Promise<void> {
    await this.write('DEL', (c) => c.del(key));
  }

  // ---- revocations and beat state (see ResultBackend; scripts in ./lua/) ----

  async addRevocations(taskIds: readonly string[], expiresAt: number): Promise<void> {
    this.assertOpen();
    if (taskIds.length === 0) return;
    await this.write('add revocations', (c) => c.addRevocations(REVOKED_KEY, String(Date.now()), String(Math.ceil(expiresAt)), ...taskIds));
  }

  async listRevocations(): Promise<Map<string, number>> {
    this.assertOpen();
    const flat = await this.command('list revocations', (c) => c.zrangebyscore(REVOKED_KEY, `(${Date.now()}`, '+inf', 'WITHSCORES'));
    const revoked = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) revoked.set(flat[i], Number(flat[i + 1]));
    return revoked;
  }

  async leadBeat(scope: string, holder: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    return (await this.write('beat lead', (c) => c.beatLead(beatKeys(scope).lock, holder, ttlArg(ttlMs, 1)))) === 1;
  }

  async releaseBeat(scope: string, holder: string): Promise<void> {
    this.assertOpen();
    await this.write('beat release', (c) => c.beatRelease(beatKeys(scope).lock, holder));
  }

  async lastBeatRun(scope: string, entry: string): Promise<number | null> {
    this.assertOpen();
    const value = await this.command('beat last run', (c) => c.hget(beatKeys(scope).runs, entry));
    return value === null ? null : Number(value);
  }

  async recordBeatRun(scope: string, holder: string, entry: string, due: number): Promise<boolean> {
    this.assertOpen();
    const { lock, runs } = beatKeys(scope);
    return (await this.write('beat record run', (c) => c.beatRecordRun(lock, runs, holder, entry, String(due)))) === 1;
  }

  // ---- subscriptions and lifecycle ----

  /** A second connection in subscriber mode; ioredis re-subscribes its channels after a reconnect. */
  protected openSubscriber(events: SubscriberEvents): ChannelSubscriber {
    const sub = this.client.duplicate({ enableAutoPipelining: false });
    const subTls = this.watch(sub, 'subscriber');
    sub.on('message', (channel: string, message: string) => events.message(channel, message));
    let connectedBefore = false;
    sub.on('ready', () => {
      if (connectedBefore) events.reconnected();
      connectedBefore = true;
    });
    const batcher = new SubscriptionBatcher(
      (channels) => {
        subTls.reopen();
        return sub.subscribe(...channels).catch((err: unknown) => Promise.reject(this.failure('SUBSCRIBE', err, subTls)));
      },
      (channels) => sub.unsubscribe(...channels).catch((err: unknown) => Promise.reject(this.failure('UNSUBSCRIBE', err, subTls))),
    );
    return {
      subscribe: (channel) => batcher.add('subscribe', channel),
      unsubscribe: (channel) => batcher.add('unsubscribe', channel),
      close: () => {
        batcher.discard();
        return closeClient(sub);
      },
    };
  }

  protected async closeStore(): Promise<void> {
    this.closed = true;
    await closeClient(this.client);
  }

  /**
   * Logs connection trouble once per outage (ioredis emits an error per reconnect attempt) and,
   * for sentinel://, each sentinel that could not be asked (once per outage) and the primary
   * connected to: which one at first, and when a fail-over moved it; TLS refusals as errors.
   * Returns the client's TLS refusal watch.
   */
  private watch(client: Redis, role: string): TlsRefusals {
    const prefix = `result backend ${this.url} (${role} connection)`;
    const tls = new TlsRefusals(client, this.tlsRoute, (refusal) => {
      this.logger.error(`${prefix}: TLS: ${refusal.text}`);
    });
    let reported = false;
    const sentinelsReported = new Set<string>();
    let primary: string | undefined;
    client.on('error', (err: Error) => {
      this.lastConnectionError = this.scrub(err.message);
      if (reported) return;
      reported = true;
      this.logger.warn(`${prefix}: ${this.lastConnectionError}; retrying`);
    });
    client.on('sentinelError', (err: Error) => {
      const text = this.scrub(err.message);
      if (sentinelsReported.has(text)) return;
      sentinelsReported.add(text);
      this.logger.warn(`${prefix}: ${text}; asking the next sentinel`);
    });
    client.on('ready', () => {
      if (reported) this.logger.info(`${prefix}: connected again`);
      reported = false;
      sentinelsReported.clear();
      if (this.sentinelName === undefined) return;
      const address = addressOf(client);
      if (primary === undefined) this.logger.info(`${prefix}: Sentinel primary '${this.sentinelName}' is ${address}`);
      else if (address !== primary) {
        this.logger.warn(`${prefix}: Sentinel primary '${this.sentinelName}' is now ${address} (was ${primary}): a fail-over`);
      }
      primary = address;
    });
    return tls;
  }

  /**
   * The error a failed command surfaces: BackendError naming the redacted URL (so host:port),
   * the command, ioredis's reason and the last connection error; ClosedError once closed.
   */
  private failure(command: string, err: unknown, connection: TlsRefusals = this.commandTls): Error {
    if (this.closed) return new ClosedError(`result backend ${this.url} is closed`);
    const tls = connection.refusal;
    if (tls !== null) return new BackendError(this.url, `${command} failed: TLS: ${tls.text}`, { cause: err });
    const reason = this.scrub(err instanceof Error ? err.message : String(err));
    const last = this.lastConnectionError;
    const detail = last && !reason.includes(last) ? `${reason} (last connection error: ${last})` : reason;
    return new BackendError(this.url, `${command} failed: ${detail}`, { cause: err, permanent: isRedisRefusal(err) });
  }

  private scrub(text: string): string {
    let scrubbed = text;
    for (const secret of this.secrets) scrubbed = scrubbed.split(secret).join('***');
    return scrubbed;
  }
}

/** host:port of the node a connected client talks to. */
function addressOf(client: Redis): string {
  const socket = (client as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  return socket?.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'an unknown address';
}
