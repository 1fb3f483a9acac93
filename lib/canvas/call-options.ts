import type { SignatureDict } from '../protocol/task-message.js';
import { ConfigError } from '../errors/errors.js';
import { COMPRESSION_NAMES, isCompressionName } from '../protocol/compression.js';
import type { Duration } from '../util/duration.js';
import { keyList } from '../util/key-list.js';
import type { Signature } from './signature.js';

/**
 * Options of one call (`applyAsync`, `sendTask`, signatures). The names are fixed API.
 * Durations given as numbers are milliseconds.
 */
export interface CallOptions {
  /** Queue to route to (published to the default exchange with routing key = queue). */
  queue?: string;
  /** Routing key; with `exchange` routes through that exchange instead of the default one. */
  routingKey?: string;
  exchange?: string;
  /** An integer 0 (lowest) .. 255; effective on queues declared with a maximum priority (`maxPriority`). */
  priority?: number;
  /** Do not start before now + countdown. */
  countdown?: Duration;
  /** Do not start before this instant. */
  eta?: Date;
  /** Never start after now + duration (or this Date); the task is recorded REVOKED instead. */
  expires?: Duration | Date;
  /** Use this id instead of a fresh UUID (the idempotency key of the task). */
  taskId?: string;
  /** 'json' or 'msgpack' for this message. */
  serializer?: string;
  /**
   * Compress this message's body as kombu does (Celery's `compression`): 'zlib' (also 'gzip',
   * kombu's alias for it), 'brotli', 'zstd' where Node has it, or kombu's content type for one
   * of them; null for none. Default: the app's `taskCompression`.
   */
  compression?: string | null;
  /**
   * 'persistent' (the app's default unless `taskDeliveryMode` says otherwise): the message is
   * written to disk and survives a broker restart. 'transient': kept in memory only — faster,
   * lost if the broker restarts before a worker took it (Celery's `delivery_mode`). A quorum
   * queue keeps every message on disk whatever the mode.
   */
  deliveryMode?: DeliveryMode;
  /** Do not store the outcome. */
  ignoreResult?: boolean;
  /** Hard time limit of this run (the `timelimit` header, in seconds on the wire). */
  timeLimit?: Duration;
  /** Soft time limit of this run. */
  softTimeLimit?: Duration;
  /** Tasks to send with this task's result as first argument once it succeeds (Celery's link). */
  link?: Signature | Signature[];
  /** Tasks to send with this task's id as first argument if it fails (Celery's link_error). */
  linkError?: Signature | Signature[];
}

/** How the broker keeps a task message: on disk ('persistent') or in memory only ('transient'). */
export type DeliveryMode = 'persistent' | 'transient';

export const DELIVERY_MODES: readonly DeliveryMode[] = ['persistent', 'transient'];

/** Returns the delivery mode, or throws ConfigError naming `option`. */
export function checkDeliveryMode(option: string, value: unknown): DeliveryMode {
  if (!(DELIVERY_MODES as readonly unknown[]).includes(value)) {
    throw new ConfigError(option, `expected ${DELIVERY_MODES.map((mode) => `'${mode}'`).join(' or ')}, got ${JSON.stringify(value)}`);
  }
  return value as DeliveryMode;
}

/** Returns the compression name (or null for none), or throws ConfigError naming `option`. */
export function checkCompression(option: string, value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !isCompressionName(value)) {
    throw new ConfigError(option, `expected null or one of ${COMPRESSION_NAMES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Every key of CallOptions (checked at compile time against the interface). */
export const CALL_OPTION_KEYS = keyList<CallOptions>({
  queue: true,
  routingKey: true,
  exchange: true,
  priority: true,
  countdown: true,
  eta: true,
  expires: true,
  taskId: true,
  serializer: true,
  compression: true,
  deliveryMode: true,
  ignoreResult: true,
  timeLimit: true,
  softTimeLimit: true,
  link: true,
  linkError: true,
});

/** Throws ConfigError naming the first key that is not a call option. */
export function checkCallOptionKeys(options: object, where: string, extraKeys: readonly string[] = []): void {
  for (const key of Object.keys(options)) {
    if (!(CALL_OPTION_KEYS as readonly string[]).includes(key) && !extraKeys.includes(key)) {
      throw new ConfigError(key, `unknown ${where} option; known: ${[...CALL_OPTION_KEYS, ...extraKeys].join(', ')}`);
    }
  }
}

/**
 * What a send carries beyond CallOptions: lineage and workflow, set by canvas and the worker.
 * `callbacks`/`errbacks` given here are used as they are; otherwise they come from the call
 * options `link`/`linkError`.
 */
export interface MessageLineage {
  parentId?: string | null;
  rootId?: string | null;
  group?: string | null;
  groupIndex?: number | null;
  retries?: number;
  callbacks?: SignatureDict[] | null;
  errbacks?: SignatureDict[] | null;
  /** Remaining chain steps, reversed. */
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
  /** The client results go to (rpc://); default: this app. */
  replyTo?: string | null;
}
