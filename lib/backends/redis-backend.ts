import { Redis, type RedisOptions } from '../util/ioredis.js';
import { BackendError, ClosedError } from '../errors/errors.js';
import { redactUrl } from '../util/url.js';
import type { ChordJoin } from './chord-counter.js';
import { pipelineWhenBusy } from './pipeline-when-busy.js';
import { KeyValueBackend, type ChannelSubscriber, type SubscriberEvents } from './key-value-backend.js';
import type { BackendOptions, ResultBackend } from './result-backend.js';

/**
 * `redis://[[user]:password@]host[:port][/db]` and `rediss://` (TLS) — Celery's Redis result
 * backend, readable and writable by Python Celery. Constructing does no I/O; the command
 * connection opens on the first command and the subscriber connection on the first wait.
 */
export function createRedisBackend(url: string, options: BackendOptions): ResultBackend {
  return new RedisBackend(url, options);
}

/**
 * Connection policy. ioredis reconnects forever in the background; a command waits through at
 * most MAX_RETRIES_PER_REQUEST reconnect attempts (delays 100, 200, 400, 800, 1600 ms: about 3 s
 * against a refused port, longer against a black-holed one, each attempt bounded by
 * CONNECT_TIMEOUT_MS) and then fails with BackendError instead of queueing without bound. A
 * command on a live connection that gets no reply in COMMAND_TIMEOUT_MS fails the same way.
 */
const MAX_RETRIES_PER_REQUEST = 5;
const CONNECT_TIMEOUT_MS = 3_000;
const COMMAND_TIMEOUT_MS = 10_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  // Concurrent commands from many callers share one write and one round trip; see pipelineWhenBusy.
  enableAutoPipelining: true,
  maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
  connectTimeout: CONNECT_TIMEOUT_MS,
  commandTimeout: COMMAND_TIMEOUT_MS,
  retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
};

/**
 * The chord join step (chord-counter.ts) as one Lua script, so it is atomic across workers.
 * KEYS: .j .t .s .ids .claim — ARGV: task id, member, score, ttl ms (0 = none).
 */
const CHORD_JOIN_SCRIPT = `
if redis.call('HSETNX', KEYS[4], ARGV[1], '1') == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local size = redis.call('GET', KEYS[3])
if not size then return false end
local total = tonumber(size) + tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZCARD', KEYS[1]) < total then return false end
if ttl > 0 then
  redis.call('SET', KEYS[5], ARGV[1], 'NX', 'PX', ttl)
else
  redis.call('SET', KEYS[5], ARGV[1], 'NX')
end
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return false end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/**
 * Store-and-publish unless the stored value has status SUCCESS, as one script (one round trip,
 * atomic). Celery and celeriac both write "status" first, so a prefix match decides; anything
 * else that mentions SUCCESS is decoded to be sure. KEYS: the key — ARGV: value, ttl ms (0 = none).
 */
const STORE_UNLESS_SUCCEEDED_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  if string.find(current, '^{%s*"status"%s*:%s*"SUCCESS"') then return 0 end
  if string.find(current, '"SUCCESS"', 1, true) then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' and decoded['status'] == 'SUCCESS' then return 0 end
  end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

/** `claim`: SET NX PX, or the value held — in one step, so a claim that expires in between is not misread. */
const CLAIM_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
`;

/** `swapClaim`: compare-and-set (ARGV[2] = '' deletes). */
const SWAP_CLAIM_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`;

type ScriptedClient = Redis & {
  claimKey(key: string, value: string, ttl: string): Promise<string | null>;
  swapClaim(key: string, expected: string, next: string, ttl: string): Promise<number>;
  storeUnlessSucceeded(key: string, value: string, ttl: string): Promise<number>;
  chordJoin(j: string, t: string, s: string, ids: string, claim: string, taskId: string, member: string, score: string, ttl: string): Promise<string[] | null>;
};

class RedisBackend extends KeyValueBackend {
  private readonly client: Redis;
  /** The password in the URL, scrubbed from every message this class builds. */
  private readonly secret: string;
  private lastConnectionError: string | undefined;
  private closed = false;

  constructor(url: string, options: BackendOptions) {
    super(redactUrl(url), options);
    this.secret = passwordOf(url);
    this.client = new Redis(url, CONNECTION_OPTIONS);
    this.client.defineCommand('chordJoin', { numberOfKeys: 5, lua: CHORD_JOIN_SCRIPT });
    this.client.defineCommand('storeUnlessSucceeded', { numberOfKeys: 1, lua: STORE_UNLESS_SUCCEEDED_SCRIPT });
    this.client.defineCommand('claimKey', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    this.client.defineCommand('swapClaim', { numberOfKeys: 1, lua: SWAP_CLAIM_SCRIPT });
    pipelineWhenBusy(this.client);
    this.watch(this.client, 'command');
  }

  protected async join(join: ChordJoin): Promise<string[] | null> {
    const { keys } = join;
    const score = Number.isFinite(join.score) ? String(join.score) : '+inf';
    try {
      return await (this.client as ScriptedClient).chordJoin(
        keys.joined, keys.extra, keys.size, keys.ids, keys.claim, join.taskId, join.member, score, String(Math.ceil(join.ttlMs)),
      );
    } catch (err) {
      throw this.failure('chord join', err);
    }
  }

  async claim(key: string, value: string, ttlMs: number): Promise<string | null> {
    try {
      return await (this.client as ScriptedClient).claimKey(key, value, String(Math.max(1, Math.ceil(ttlMs))));
    } catch (err) {
      throw this.failure('claim', err);
    }
  }

  async swapClaim(key: string, expected: string, next: string | null, ttlMs: number): Promise<boolean> {
    try {
      return (await (this.client as ScriptedClient).swapClaim(key, expected, next ?? '', String(Math.max(1, Math.ceil(ttlMs))))) === 1;
    } catch (err) {
      throw this.failure('swap claim', err);
    }
  }

  protected async get(key: string): Promise<string | null> {
    try {
      return await this.client.get(key);
    } catch (err) {
      throw this.failure('GET', err);
    }
  }

  /**
   * One MULTI: SETEX (PSETEX when the TTL is not whole seconds; SET when 0) and PUBLISH of the
   * same value on the channel named by the key, as Celery's RedisBackend.set does. Both apply or
   * neither does, so a stored result is always announced.
   */
  protected async set(key: string, value: string, ttlMs: number): Promise<void> {
    const tx = this.client.multi();
    if (ttlMs <= 0) tx.set(key, value);
    else if (ttlMs % 1000 === 0) tx.setex(key, ttlMs / 1000, value);
    else tx.psetex(key, Math.ceil(ttlMs), value);
    tx.publish(key, value);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await tx.exec();
    } catch (err) {
      throw this.failure('SET+PUBLISH', err);
    }
    if (replies === null) throw this.failure('SET+PUBLISH', new Error('transaction aborted'));
    for (const [err] of replies) if (err) throw this.failure('SET+PUBLISH', err);
  }

  protected async setUnlessSucceeded(key: string, value: string, ttlMs: number): Promise<boolean> {
    try {
      return (await (this.client as ScriptedClient).storeUnlessSucceeded(key, value, String(Math.max(0, Math.ceil(ttlMs))))) === 1;
    } catch (err) {
      throw this.failure('store', err);
    }
  }

  /** INCRBY and PEXPIRE in one MULTI. */
  protected async increment(key: string, by: number, ttlMs: number): Promise<number> {
    const tx = this.client.multi().incrby(key, by);
    if (ttlMs > 0) tx.pexpire(key, Math.ceil(ttlMs));
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await tx.exec();
    } catch (err) {
      throw this.failure('INCRBY', err);
    }
    if (replies === null) throw this.failure('INCRBY', new Error('transaction aborted'));
    for (const [err] of replies) if (err) throw this.failure('INCRBY', err);
    return Number(replies[0]![1]);
  }

  protected async delete(key: string): Promise<void> {
    try {
      await this.client.del(key);
    } catch (err) {
      throw this.failure('DEL', err);
    }
  }

  /** A second connection in subscriber mode; ioredis re-subscribes its channels after a reconnect. */
  protected openSubscriber(events: SubscriberEvents): ChannelSubscriber {
    const sub = this.client.duplicate({ enableAutoPipelining: false });
    this.watch(sub, 'subscriber');
    sub.on('message', (channel: string, message: string) => events.message(channel, message));
    let connectedBefore = false;
    sub.on('ready', () => {
      if (connectedBefore) events.reconnected();
      connectedBefore = true;
    });
    const batcher = new SubscriptionBatcher(
      (channels) => sub.subscribe(...channels).catch((err: unknown) => Promise.reject(this.failure('SUBSCRIBE', err))),
      (channels) => sub.unsubscribe(...channels).catch((err: unknown) => Promise.reject(this.failure('UNSUBSCRIBE', err))),
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

  /** Logs connection trouble once per outage (ioredis emits an error per reconnect attempt). */
  private watch(client: Redis, role: string): void {
    let reported = false;
    client.on('error', (err: Error) => {
      this.lastConnectionError = this.scrub(err.message);
      if (reported) return;
      reported = true;
      this.logger.warn(`result backend ${this.url} (${role} connection): ${this.lastConnectionError}; retrying`);
    });
    client.on('ready', () => {
      if (reported) this.logger.info(`result backend ${this.url} (${role} connection): connected again`);
      reported = false;
    });
  }

  /**
   * The error a failed command surfaces: BackendError naming the redacted URL (so host:port),
   * the command, ioredis's reason and the last connection error; ClosedError once closed.
   */
  private failure(command: string, err: unknown): Error {
    if (this.closed) return new ClosedError(`result backend ${this.url} is closed`);
    const reason = this.scrub(err instanceof Error ? err.message : String(err));
    const last = this.lastConnectionError;
    const detail = last && !reason.includes(last) ? `${reason} (last connection error: ${last})` : reason;
    return new BackendError(this.url, `${command} failed: ${detail}`, { cause: err, permanent: isRedisRefusal(err) });
  }

  private scrub(text: string): string {
    return this.secret ? text.split(this.secret).join('***') : text;
  }
}

/** How long unsubscribes wait, so one UNSUBSCRIBE covers every key left meanwhile. */
const UNSUBSCRIBE_DELAY_MS = 100;

interface Settle {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces subscription changes into few commands (and socket writes) — ioredis cannot
 * auto-pipeline them, and one SUBSCRIBE plus one UNSUBSCRIBE per waiting `get()` is what a
 * client would otherwise pay, even one waiting for a single result at a time:
 * - subscribes made in one event-loop turn go out as one `SUBSCRIBE a b c` after it, and after
 *   the AMQP publishes made in that turn: amqplib writes a publish from a setImmediate it queues
 *   in a nextTick, and the SUBSCRIBE is written from a setImmediate queued the same way, later.
 *   A task's message thus leaves first and the subscription's trip to Redis overlaps the
 *   broker's and the worker's work instead of delaying the publish (measured: ~0.1 ms off a
 *   single round trip). Safe: a waiter reads the stored key once subscribed, so an outcome
 *   published before the subscription took effect is still seen;
 * - unsubscribes wait up to UNSUBSCRIBE_DELAY_MS and go out as one `UNSUBSCRIBE …`. Meanwhile
 *   the connection stays subscribed, which only means the odd message for a key nobody waits
 *   for any more (the backend ignores those).
 * Invariant: a channel subscribed again while its unsubscribe is still waiting has that
 * unsubscribe dropped, so the last call wins, as if every command had been sent in order.
 */
class SubscriptionBatcher {
  private subscribes: { channel: string; settle: Settle }[] = [];
  private unsubscribes = new Map<string, Settle[]>();
  private unsubscribeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscribe: (channels: string[]) => Promise<unknown>,
    private readonly unsubscribe: (channels: string[]) => Promise<unknown>,
  ) {}

  add(op: 'subscribe' | 'unsubscribe', channel: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = { resolve, reject };
      if (op === 'subscribe') {
        // Never sent, so nothing to undo: the channel simply stays subscribed.
        for (const dropped of this.unsubscribes.get(channel) ?? []) dropped.resolve();
        this.unsubscribes.delete(channel);
        if (this.subscribes.length === 0) process.nextTick(() => setImmediate(() => this.flushSubscribes()));
        this.subscribes.push({ channel, settle });
      } else {
        const waiting = this.unsubscribes.get(channel);
        if (waiting) waiting.push(settle);
        else this.unsubscribes.set(channel, [settle]);
        this.unsubscribeTimer ??= setTimeout(() => this.flushUnsubscribes(), UNSUBSCRIBE_DELAY_MS).unref();
      }
    });
  }

  /** Drops the waiting unsubscribes (the connection is closing, which ends every subscription). */
  discard(): void {
    clearTimeout(this.unsubscribeTimer);
    this.unsubscribeTimer = undefined;
    for (const settles of this.unsubscribes.values()) settles.forEach((settle) => settle.resolve());
    this.unsubscribes.clear();
  }

  private flushSubscribes(): void {
    const run = this.subscribes;
    this.subscribes = [];
    // Not awaited: ioredis writes commands in call order, so this SUBSCRIBE follows every
    // UNSUBSCRIBE written before it.
    this.subscribe(run.map((o) => o.channel)).then(
      () => run.forEach((o) => o.settle.resolve()),
      (err: unknown) => run.forEach((o) => o.settle.reject(err)),
    );
  }

  private flushUnsubscribes(): void {
    this.unsubscribeTimer = undefined;
    const run = this.unsubscribes;
    this.unsubscribes = new Map();
    if (run.size === 0) return;
    const settles = [...run.values()].flat();
    this.unsubscribe([...run.keys()]).then(
      () => settles.forEach((settle) => settle.resolve()),
      (err: unknown) => settles.forEach((settle) => settle.reject(err)),
    );
  }
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/**
 * Closes a connection and resolves once it has ended: QUIT when ready (pending replies still
 * arrive first), otherwise a disconnect that also stops reconnecting and fails queued commands.
 */
async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'wait') {
    client.disconnect(); // never connected: no socket, ends synchronously
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready') {
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  } else {
    client.disconnect();
    if (client.status === 'reconnecting' || client.status === 'close') {
      // Between reconnect attempts there is no socket: disconnect() only cancels the next attempt,
      // and ioredis 5 then never emits 'end' and leaves queued commands (with their timeout
      // timers) pending (redis/ioredis#2169). Settle them here; nothing else is held.
      flushable(client).flushQueue?.(new Error('Connection is closed.'));
      return;
    }
  }
  await ended;
}

/** ioredis's queue flush, declared private in its types but the one way to settle stranded commands. */
function flushable(client: Redis): { flushQueue?: (error: Error) => void } {
  return client as unknown as { flushQueue?: (error: Error) => void };
}

/**
 * Error replies Redis gives while it cannot serve for a while (loading its data set, a script
 * running too long, a replica or cluster not ready — READONLY from a former master after a
 * fail-over —, out of memory, persistence failing, every client slot taken) or while this
 * client is not let in (NOAUTH, WRONGPASS: the password was rotated and the new one is not
 * deployed yet): an outage that passes, not a refusal of the command.
 */
const PASSING_REPLY = /\b(?:LOADING|BUSY|MASTERDOWN|READONLY|OOM|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|NOSCRIPT|EXECABORT|NOAUTH|WRONGPASS)\b|max number of clients reached/;

/**
 * Whether ioredis's error is Redis refusing this command for good — an error reply such as
 * WRONGTYPE (the key holds another type) or ERR — rather than a connection that failed, a
 * timeout or a passing condition (PASSING_REPLY). Sending the same command again cannot help.
 */
export function isRedisRefusal(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return false;
  return !PASSING_REPLY.test(err.message);
}
