import type { Redis } from '../../util/ioredis.js';
import { classifyTlsError, type TlsFailure } from '../../util/tls-failure.js';
import { diagnoseTlsFailure, probeTls, type Endpoint, type ProbeTarget } from '../../util/tls-probe.js';
import type { SentinelRoute } from './connection.js';

/** What makes a plain-text Redis answer (a TLS handshake sent to it gets no answer at all). */
const PING = Buffer.from('PING\r\n');

/** How ioredis names a sentinel it could not ask (its `sentinelError` events). */
const SENTINEL_ERROR = /sentinel (\S+):(\d+) because /;
/** The connection error ioredis reports once no sentinel of the list answered. */
const NO_SENTINEL = /^All sentinels are unreachable/;

/**
 * Where one Redis connection goes: a fixed data node (redis://, rediss://; null: no probing), or
 * the sentinels of a sentinel:// list and the primary they name.
 */
export type TlsRoute = { dataNode: ProbeTarget | null } | { sentinel: SentinelRoute };

/**
 * Tells the TLS refusals among one Redis connection's errors from network faults, and fails fast
 * on them before the connection was ever ready (the rule the broker connection keeps too):
 *
 * - each connection error is classified (lib/util/tls-failure.ts); before the first ready, a
 *   reset or timeout is probed once more (lib/util/tls-probe.ts), one probe at a time, for a
 *   TLS port given to redis://, a plain-text port given to rediss://, or a client certificate the
 *   server refused after the handshake;
 * - sentinel://: the same for the primary the sentinels named (the failure's text names it), and,
 *   before the first ready, each sentinel ioredis could not ask is probed (ioredis keeps only
 *   "Connection is closed" or a timeout of that failure) with the sentinels' TLS settings. A
 *   sentinel's TLS refusal stops the connection once every sentinel refused, or every other one
 *   was unreachable: one sentinel misconfigured among good ones is only logged;
 * - a refusal before the first ready stops ioredis's reconnect loop (disconnect), so queued
 *   commands fail now instead of after every retry; the next command (`reopen()`) tries again
 *   with one new connection, so a fixed server is picked up without a restart;
 * - after a ready, ioredis reconnects as for any loss (a certificate renewed wrongly on the
 *   server can be fixed there), and `refusal` names the cause in the errors commands get;
 * - `refusal` is cleared by the next ready. No refusal ever turns TLS off.
 */
export class TlsRefusals {
  /** The TLS refusal of the latest failed attempt, null once connected. */
  refusal: TlsFailure | null = null;
  private everReady = false;
  private probing = false;
  /** sentinel://: the sentinels found refusing TLS since the last ready, by host:port. */
  private readonly refusingSentinels = new Map<string, TlsFailure>();
  private readonly probingSentinels = new Set<string>();
  /** sentinel://: ioredis went through the whole list without an answer since the last ready. */
  private noSentinelAnswered = false;

  constructor(
    private readonly client: Redis,
    private readonly route: TlsRoute,
    private readonly report: (refusal: TlsFailure) => void,
  ) {
    client.on('error', (error: unknown) => this.observe(error));
    if ('sentinel' in route) client.on('sentinelError', (error: unknown) => this.observeSentinel(error, route.sentinel));
    client.on('ready', () => {
      this.everReady = true;
      this.refusal = null;
      this.refusingSentinels.clear();
      this.noSentinelAnswered = false;
    });
  }

  /** Before a command: a client stopped by a refusal connects again (the command waits for it). */
  reopen(): void {
    if (this.client.status !== 'end' || this.refusal === null) return;
    // A new attempt: the sentinels are judged afresh.
    this.refusingSentinels.clear();
    this.noSentinelAnswered = false;
    this.client.connect().catch(() => undefined);
  }

  private observe(error: unknown): void {
    if ('sentinel' in this.route && error instanceof Error && NO_SENTINEL.test(error.message)) {
      this.noSentinelAnswered = true;
      this.refuseForSentinels(this.route.sentinel);
      return;
    }
    const watched = this.dataNode();
    if (watched === null) return;
    const { target, name } = watched;
    const direct = target.tls === null ? null : classifyTlsError(error);
    if (direct !== null) return this.refuse(name(direct));
    if (this.everReady) {
      this.refusal = null;
      return;
    }
    if (this.probing) return;
    this.probing = true;
    void diagnoseTlsFailure(error, target).then((found) => {
      this.probing = false;
      if (found === null) this.refusal = null;
      else if (this.beforeFirstReady()) this.refuse(name(found));
    });
  }

  /** The data node to probe, and how to name a failure there; null when unknown. */
  private dataNode(): { target: ProbeTarget; name: (failure: TlsFailure) => TlsFailure } | null {
    if (!('sentinel' in this.route)) {
      const target = this.route.dataNode;
      return target && { target: { ...target, plainHello: PING }, name: (failure) => failure };
    }
    const { sentinel } = this.route;
    const primary = sentinel.primary();
    if (primary === null) return null;
    const target: ProbeTarget = { endpoint: primary, tls: sentinel.dataTls?.socketOptions ?? null, tlsScheme: 'rediss', plainHello: PING };
    return { target, name: (failure) => sentinelRouteFailure(failure, 'data', primary) };
  }

  private observeSentinel(error: unknown, sentinel: SentinelRoute): void {
    const match = error instanceof Error ? SENTINEL_ERROR.exec(error.message) : null;
    if (match === null || !this.beforeFirstReady()) return;
    const endpoint: Endpoint = { host: match[1], port: Number(match[2]) };
    const key = `${endpoint.host}:${endpoint.port}`;
    if (this.probingSentinels.has(key)) return;
    this.probingSentinels.add(key);
    const target: ProbeTarget = { endpoint, tls: sentinel.sentinelTls?.socketOptions ?? null, tlsScheme: 'rediss', plainHello: PING };
    void probeTls(target).then((found) => {
      this.probingSentinels.delete(key);
      if (found === null) this.refusingSentinels.delete(key);
      else if (this.beforeFirstReady()) {
        const failure = sentinelRouteFailure(found, 'sentinel', endpoint);
        if (this.refusingSentinels.get(key)?.text !== failure.text) this.report(failure);
        this.refusingSentinels.set(key, failure);
        this.refuseForSentinels(sentinel);
      }
    });
  }

  /** Stops the connection for a sentinel's refusal once no sentinel of the list can answer (see the class comment). */
  private refuseForSentinels(sentinel: SentinelRoute): void {
    const [first] = this.refusingSentinels.values();
    if (first === undefined || !this.beforeFirstReady()) return;
    if (this.noSentinelAnswered || this.refusingSentinels.size >= new Set(sentinel.sentinels.map((s) => `${s.host}:${s.port}`)).size) {
      this.refuse(first, false);
    }
  }

  private beforeFirstReady(): boolean {
    return !this.everReady && this.client.status !== 'ready' && this.client.status !== 'end';
  }

  private refuse(failure: TlsFailure, report = true): void {
    const first = this.refusal?.text !== failure.text;
    this.refusal = failure;
    if (first && report) this.report(failure);
    if (!this.everReady) this.client.disconnect();
  }
}

/**
 * A failure met through a sentinel:// list, named with the server it happened on, and with the
 * advice of that route: which setting holds the sentinels' TLS, which the data nodes'.
 */
export function sentinelRouteFailure(failure: TlsFailure, role: 'sentinel' | 'data', endpoint: Endpoint): TlsFailure {
  const where = role === 'sentinel' ? `sentinel ${endpoint.host}:${endpoint.port}` : `the primary ${endpoint.host}:${endpoint.port}`;
  const setting =
    role === 'sentinel'
      ? "resultBackendTransportOptions.sentinelTls (Celery: sentinel_kwargs {'ssl': True, ...})"
      : 'backendTls (Celery: redis_backend_use_ssl)';
  if (failure.kind === 'tls-port') {
    return { ...failure, text: `${where} speaks TLS, and no TLS is set for it: set ${setting}` };
  }
  if (failure.kind === 'not-tls') {
    return {
      ...failure,
      text:
        `${where} does not speak TLS (${failure.code ?? 'it answers in plain text'}), and ${setting} asks for TLS: ` +
        'a plain-text port given TLS settings; it is not used in plain text',
    };
  }
  return { ...failure, text: `${where}: ${failure.text}` };
}
