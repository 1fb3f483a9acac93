import type { Logger } from 'winston';
import { ConfigError } from '../errors/errors.js';
import { SERIALIZER_NAMES } from '../protocol/serializers.js';
import { toMilliseconds, type Duration } from '../util/duration.js';
import { redactUrl } from '../util/url.js';
import { resolveBackendTls } from '../backends/redis/tls-options.js';
import { keyList } from '../util/key-list.js';
import type { QueueType } from '../broker/transport.js';
import { checkCompression, checkDeliveryMode, type DeliveryMode } from '../canvas/call-options.js';
import type { LogLevel } from '../log/logger.js';
import { parseLogLevel } from '../log/level-names.js';
import { Router, type TaskRoutes } from './routes.js';
import { checkSchedule, type BeatSchedule } from './beat-schedule.js';
import { resolveControlPolicy, type ControlCommandsOption, type ControlPolicy } from './command-policy.js';
import {
  checkFailoverStrategy,
  joinBrokerList,
  parseBrokerList,
  resolveBrokerListTls,
  type FailoverStrategy,
} from '../broker/broker-list.js';
import type { TlsConfig, TlsOptions } from '../util/tls-settings.js';
import { defaultQueueType as queueType, isNonNegativeInteger, maxPriority, queueSettings, type QueueSettings } from './queue-settings.js';
import {
  resolveTransportOptions,
  resolveWaitForReplicas,
  type BackendConnectionSettings,
  type ResultBackendTransportOptions,
  type WaitForReplicas,
  type WaitForReplicasOption,
} from '../backends/result-backend-options.js';

/** What createApp accepts. Every key is optional; unknown keys are rejected with the key named. */
export interface AppOptions {
  /** Names the app in logs and the `origin` header. Default 'celeriac'. */
  name?: string;
  /**
   * Broker URL: amqp://, amqps://, memory://. Default $CELERIAC_BROKER_URL or amqp://guest:guest@127.0.0.1:5672.
   * The nodes of a RabbitMQ cluster are given as a list: Celery's `;`-separated string
   * (`amqp://a:5672;amqp://b:5672`) or an array of URLs, amqp:// and amqps:// only; a client
   * connects to one node and fails over to the next (`brokerFailover`). See docs/deployment.md.
   */
  broker?: string | string[];
  /**
   * The order in which the nodes of a broker list are tried: 'round-robin' (default: list order)
   * or 'shuffle' (a new random order each pass). Celery's `broker_failover_strategy`.
   */
  brokerFailover?: FailoverStrategy;
  /**
   * Result backend URL: redis://, rediss://, sentinel:// (a `;`-separated list, or an array of
   * sentinel:// URLs; see docs/deployment.md, "Redis Sentinel"), rpc://, memory://; null disables
   * results. Default $CELERIAC_RESULT_BACKEND or null.
   */
  backend?: string | string[] | null;
  /** Queue for tasks with no route. Default 'celery' (Celery's default). */
  defaultQueue?: string;
  /** Serializer for task messages: 'json' (default) or 'msgpack'. */
  serializer?: string;
  /** Serializers a worker accepts; other content types are dead-lettered. Default ['json', 'msgpack']. */
  accept?: string[];
  /** How long results are kept. Default '1d'; 0 keeps them forever. */
  resultExpires?: Duration;
  /** How long a publish waits for the broker's confirm. Default '30s'. */
  confirmTimeout?: Duration;
  /**
   * How task messages are kept by the broker unless a call says otherwise (call option
   * `deliveryMode`): 'persistent' (default: on disk, they survive a broker restart) or
   * 'transient' (in memory only: faster, lost with a broker restart). Celery's
   * `task_default_delivery_mode`.
   */
  taskDeliveryMode?: DeliveryMode;
  /**
   * Compression of task message bodies unless a call says otherwise (call option
   * `compression`): 'zlib', 'brotli', ... (see CallOptions.compression). Default null: none.
   * Celery's `task_compression`; workers of both inflate any of them.
   */
  taskCompression?: string | null;
  /**
   * Publishes written to the broker and not yet confirmed, at most (a positive integer); later
   * sends wait in this process, in order, until confirms make room. Default null: no limit.
   * With workers keeping up, ~1000 makes bulk sends faster (RabbitMQ does less per message when
   * fewer wait in it); with none consuming, it slows them (confirms then wait for the disk).
   * Measured in docs/benchmarks.md.
   */
  maxUnconfirmedPublishes?: number | null;
  /** AMQP heartbeat interval. Default '30s'; 0 disables. */
  heartbeat?: Duration;
  /**
   * Largest AMQP frame accepted from the broker, in bytes: an integer of at least 4096, or 0 for
   * no limit. Default null: 64 MiB, or the frame size negotiated with the broker if larger. A
   * frame over it closes the connection before it is buffered (a guard against a hostile or
   * broken broker). The URL's `maxFrameSize` query parameter, when given, wins.
   */
  brokerMaxFrameSize?: number | null;
  /** Connection attempts before an operation fails; null = retry forever. Default 100. */
  brokerConnectionMaxRetries?: number | null;
  /** Upper bound of the reconnect backoff. Default '30s'. */
  brokerConnectionMaxDelay?: Duration;
  /**
   * Worker prefetch = concurrency × this, Celery's meaning. Default null: the pool's rule —
   * concurrency × 4 (Celery's), and with the async pool at least 64 (docs/tasks.md).
   */
  prefetchMultiplier?: number | null;
  /**
   * Worker concurrency when the worker is not given one. Default null: the pool's — 16 for the
   * async pool (tasks share one event loop), the number of CPUs for the threads pool.
   */
  concurrency?: number | null;
  /** Level of the logger created when `logger` is not given. Default 'warn'. */
  logLevel?: LogLevel;
  /** A winston logger to use instead of creating one. */
  logger?: Logger;
  /** Task name / glob → queue, exchange, routing key, priority. See docs/routing.md. */
  taskRoutes?: TaskRoutes;
  /**
   * Declare every queue celeriac declares as a priority queue with this highest priority (1..255; 10 advised).
   * Default null: plain queues, as Python Celery declares them by default. Opt in on both sides:
   * RabbitMQ refuses to re-declare a queue with other settings.
   */
  queueMaxPriority?: number | null;
  /** Per-queue settings that override the app-wide ones. */
  queues?: Record<string, QueueSettings>;
  /**
   * Type of every durable queue celeriac declares for tasks unless `queues[Q].type` says
   * otherwise: task queues, their `<queue>.dead-letter` queues, the delay tiers and rpc://
   * chord queues. 'classic' (default) or 'quorum' (replicated: for a RabbitMQ cluster). Queues
   * that live and die with one client (rpc:// reply queues, remote-control and event queues)
   * stay classic. Default $CELERIAC_DEFAULT_QUEUE_TYPE, else 'classic'. Celery 5.5's
   * `task_default_queue_type`. Every producer and worker of the app must agree: see
   * docs/routing.md, "Queue types".
   */
  defaultQueueType?: QueueType;
  /** Send a Celery `task-sent` event for every task sent (monitoring; see docs/operations.md). Default false. */
  taskSendSentEvent?: boolean;
  /** Periodic tasks run by `celeriac beat` (docs/operations.md). Default none. */
  beatSchedule?: BeatSchedule;
  /**
   * Which remote-control commands this app's workers obey: 'all' (default, as Python Celery),
   * 'safe' (inspect commands and revoke without terminate; shutdown, terminate, rate_limit,
   * add_consumer and cancel_consumer are refused with an error reply), or a list of command
   * names ('safe' among them stands for that set). The worker flag --control-commands overrides
   * it. See docs/reliability.md, "Who may control a worker".
   */
  controlCommands?: ControlCommandsOption;
  /**
   * TLS settings of an amqps:// broker (Celery's `broker_use_ssl`): { caFile, certFile, keyFile,
   * certReqs, serverHostname }, or Celery's names (ca_certs, certfile, keyfile, cert_reqs,
   * server_hostname). The URL's query parameters (ssl_ca_certs, ...) win over it; without it,
   * $CELERIAC_BROKER_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _CERT_REQS, _SERVER_HOSTNAME. Files are
   * read when the app is created. A TLS setting with an amqp:// URL is a ConfigError. See
   * docs/deployment.md, "TLS".
   */
  brokerTls?: TlsOptions | true;
  /**
   * TLS settings of a rediss:// result backend (Celery's `redis_backend_use_ssl`), as brokerTls
   * (Celery's names: ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs). Without it,
   * $CELERIAC_BACKEND_TLS_CA_FILE and so on. With a sentinel:// backend, given (or `true`, or
   * the environment) it turns on TLS to the data nodes the sentinels name; the sentinels' own
   * TLS is resultBackendTransportOptions.sentinelTls. See docs/deployment.md, "TLS through Sentinel".
   */
  backendTls?: TlsOptions | true;
  /**
   * Celery's `result_backend_transport_options`, for a sentinel:// backend: `masterName` (or
   * `master_name`; the URL's `master_name` parameter wins), `sentinelPassword` / `sentinelUsername`
   * (or `sentinel_kwargs: { password, username }`), `sentinelTls` (or `sentinel_kwargs: { ssl:
   * true, ssl_ca_certs, ... }`; without either, $CELERIAC_BACKEND_SENTINEL_TLS_*). Default none.
   */
  resultBackendTransportOptions?: ResultBackendTransportOptions;
  /**
   * Redis backends: after every write (results, chord counters, revocations, beat state,
   * redelivery counts, claims), Redis `WAIT replicas timeout`; a write that fewer replicas
   * acknowledged in time fails with BackendError (not permanent: a worker retries storing, then
   * requeues the task). Closes the window in which a fail-over loses acknowledged writes; see
   * docs/deployment.md, "Redis Sentinel". Default null: a write is done when the primary answered.
   */
  resultBackendWaitForReplicas?: WaitForReplicasOption | null;
}

export type { QueueType, QueueSettings };

/** AppOptions after defaults and validation; durations in ms. */
export interface AppConfig {
  name: string;
  /** The broker URL, or the broker list joined with ';' (Celery's spelling). */
  broker: string;
  brokerFailover: FailoverStrategy;
  backend: string | null;
  defaultQueue: string;
  serializer: string;
  accept: string[];
  resultExpiresMs: number;
  confirmTimeoutMs: number;
  taskDeliveryMode: DeliveryMode;
  taskCompression: string | null;
  maxUnconfirmedPublishes: number | null;
  heartbeatSeconds: number;
  brokerMaxFrameSize: number | null;
  brokerConnectionMaxRetries: number | null;
  brokerConnectionMaxDelayMs: number;
  /** null: the pool's rule (see AppOptions). */
  prefetchMultiplier: number | null;
  /** null: the pool's default (see AppOptions). */
  concurrency: number | null;
  logLevel: LogLevel;
  logger: Logger | undefined;
  router: Router;
  queueMaxPriority: number | null;
  queues: Record<string, QueueSettings>;
  defaultQueueType: QueueType;
  taskSendSentEvent: boolean;
  beatSchedule: BeatSchedule;
  controlCommands: ControlPolicy;
  /** TLS of an amqps:// broker, files read; null for amqp:// and memory://. */
  brokerTls: TlsConfig | null;
  /** TLS of a rediss:// backend, or of a sentinel:// backend's data nodes; files read; null otherwise. */
  backendTls: TlsConfig | null;
  resultBackendTransportOptions: BackendConnectionSettings;
  resultBackendWaitForReplicas: WaitForReplicas | null;
}

/** Every key of AppOptions (checked at compile time against the interface). */
const KNOWN_KEYS: ReadonlySet<string> = new Set(
  keyList<AppOptions>({
    name: true,
    broker: true,
    brokerFailover: true,
    backend: true,
    defaultQueue: true,
    serializer: true,
    accept: true,
    resultExpires: true,
    confirmTimeout: true,
    maxUnconfirmedPublishes: true,
    taskDeliveryMode: true,
    taskCompression: true,
    heartbeat: true,
    brokerMaxFrameSize: true,
    brokerConnectionMaxRetries: true,
    brokerConnectionMaxDelay: true,
    prefetchMultiplier: true,
    concurrency: true,
    logLevel: true,
    logger: true,
    taskRoutes: true,
    queueMaxPriority: true,
    queues: true,
    defaultQueueType: true,
    taskSendSentEvent: true,
    beatSchedule: true,
    controlCommands: true,
    brokerTls: true,
    backendTls: true,
    resultBackendTransportOptions: true,
    resultBackendWaitForReplicas: true,
  }),
);

export function resolveConfig(options: AppOptions, env: NodeJS.ProcessEnv = process.env): AppConfig {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createApp', 'options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) {
      throw new ConfigError(key, `unknown option; known options: ${[...KNOWN_KEYS].join(', ')}`);
    }
  }
  const serializer = options.serializer ?? 'json';
  checkSerializer('serializer', serializer);
  const accept = options.accept ?? ['json', 'msgpack'];
  if (!Array.isArray(accept) || accept.length === 0) throw new ConfigError('accept', 'expected a non-empty list of serializer names');
  accept.forEach((name) => checkSerializer('accept', name));
  const logLevel = parseLogLevel(options.logLevel ?? 'warn', 'logLevel');
  const defaultQueueType = queueType(options.defaultQueueType, env.CELERIAC_DEFAULT_QUEUE_TYPE);
  const queueMaxPriority = maxPriority('queueMaxPriority', options.queueMaxPriority ?? null);
  if (defaultQueueType === 'quorum' && queueMaxPriority !== null) {
    throw new ConfigError(
      'queueMaxPriority',
      `${queueMaxPriority} would give every queue priorities, but defaultQueueType is 'quorum' and quorum queues have none: ` +
        "give the queues that need priorities type: 'classic' and maxPriority in queues",
    );
  }
  const maxRetries = options.brokerConnectionMaxRetries === undefined ? 100 : options.brokerConnectionMaxRetries;
  const backend =
    options.backend === null ? null : options.backend !== undefined ? backendUrl(options.backend) : env.CELERIAC_RESULT_BACKEND || null;
  const waitForReplicas = resolveWaitForReplicas(options.resultBackendWaitForReplicas);
  if (waitForReplicas && !(backend && /^(rediss?|sentinel):/i.test(backend))) {
    throw new ConfigError(
      'resultBackendWaitForReplicas',
      `needs a redis://, rediss:// or sentinel:// backend, got ${redactUrl(backend ?? 'none')}`,
    );
  }
  if (maxRetries !== null && !isNonNegativeInteger(maxRetries)) {
    throw new ConfigError('brokerConnectionMaxRetries', `expected a non-negative integer or null, got ${JSON.stringify(maxRetries)}`);
  }
  const brokers = parseBrokerList(options.broker ?? env.CELERIAC_BROKER_URL ?? 'amqp://guest:guest@127.0.0.1:5672', 'broker');
  return {
    name: nonEmptyString('name', options.name ?? 'celeriac'),
    broker: joinBrokerList(brokers),
    brokerFailover: checkFailoverStrategy('brokerFailover', options.brokerFailover ?? 'round-robin'),
    backend,
    defaultQueue: nonEmptyString('defaultQueue', options.defaultQueue ?? 'celery'),
    serializer,
    accept: [...accept],
    resultExpiresMs: toMilliseconds(options.resultExpires ?? '1d', 'resultExpires'),
    confirmTimeoutMs: toMilliseconds(options.confirmTimeout ?? '30s', 'confirmTimeout'),
    taskDeliveryMode: checkDeliveryMode('taskDeliveryMode', options.taskDeliveryMode ?? 'persistent'),
    taskCompression: checkCompression('taskCompression', options.taskCompression ?? null),
    maxUnconfirmedPublishes:
      options.maxUnconfirmedPublishes === undefined || options.maxUnconfirmedPublishes === null
        ? null
        : positiveInteger('maxUnconfirmedPublishes', options.maxUnconfirmedPublishes),
    heartbeatSeconds: Math.round(toMilliseconds(options.heartbeat ?? '30s', 'heartbeat') / 1000),
    brokerMaxFrameSize: maxFrameSize('brokerMaxFrameSize', options.brokerMaxFrameSize ?? null),
    brokerConnectionMaxRetries: maxRetries,
    brokerConnectionMaxDelayMs: toMilliseconds(options.brokerConnectionMaxDelay ?? '30s', 'brokerConnectionMaxDelay'),
    prefetchMultiplier: options.prefetchMultiplier == null ? null : positiveInteger('prefetchMultiplier', options.prefetchMultiplier),
    concurrency: options.concurrency == null ? null : positiveInteger('concurrency', options.concurrency),
    logLevel,
    logger: options.logger,
    router: new Router(options.taskRoutes),
    queueMaxPriority,
    queues: queueSettings(options.queues ?? {}, queueMaxPriority, defaultQueueType),
    defaultQueueType,
    taskSendSentEvent: options.taskSendSentEvent === undefined ? false : booleanOption('taskSendSentEvent', options.taskSendSentEvent),
    beatSchedule: checkSchedule(options.beatSchedule ?? {}),
    controlCommands: resolveControlPolicy(options.controlCommands ?? 'all', (reason) => new ConfigError('controlCommands', reason)),
    brokerTls: resolveBrokerListTls(brokers, {
      urlOption: 'broker',
      option: 'brokerTls',
      given: options.brokerTls,
      envPrefix: 'CELERIAC_BROKER_TLS_',
      env,
    }),
    backendTls: backend === null ? tlsWithoutBackend(options.backendTls) : resolveBackendTls(backend, options.backendTls, env),
    resultBackendTransportOptions: resolveTransportOptions(options.resultBackendTransportOptions, backend, env),
    resultBackendWaitForReplicas: waitForReplicas,
  };
}

/** With no backend, backendTls has nothing to apply to: given, it is a mistake worth naming. */
function tlsWithoutBackend(given: unknown): null {
  if (given !== undefined && given !== null)
    throw new ConfigError('backendTls', 'TLS settings for a result backend, but no backend is configured');
  return null;
}

/** The backend URL; an array is a Sentinel list (every URL sentinel://), joined with ';' as Celery writes it. */
function backendUrl(value: unknown): string {
  if (!Array.isArray(value)) return nonEmptyString('backend', value);
  if (value.length === 0) throw new ConfigError('backend', 'expected a URL or a non-empty list of sentinel:// URLs, got []');
  for (const url of value) {
    if (typeof url !== 'string' || !/^sentinel:\/\//i.test(url.trim())) {
      throw new ConfigError(
        'backend',
        `a list of URLs is a Sentinel list: every URL must be sentinel://, got ${JSON.stringify(redactUrl(String(url)))}`,
      );
    }
  }
  return value.map((url: string) => url.trim()).join(';');
}

/** AMQP's smallest frame is 4096 bytes; 0 turns the limit off. */
function maxFrameSize(option: string, value: unknown): number | null {
  if (value === null) return null;
  if (isNonNegativeInteger(value) && (value === 0 || value >= 4096)) return value;
  throw new ConfigError(option, `expected 0 (no limit), an integer of at least 4096 (bytes) or null, got ${JSON.stringify(value)}`);
}

function booleanOption(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(option, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

function checkSerializer(option: string, name: unknown): void {
  if (typeof name !== 'string' || !SERIALIZER_NAMES.includes(name)) {
    throw new ConfigError(option, `unknown serializer ${JSON.stringify(name)}; known: ${SERIALIZER_NAMES.join(', ')}`);
  }
}

function nonEmptyString(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigError(option, `expected a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

export function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(option, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
