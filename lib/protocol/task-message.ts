import { InvalidMessageError, SerializationError } from '../errors/errors.js';
import type { MessageProperties, OutgoingMessage } from '../broker/transport.js';
import { COMPRESSION_HEADER, decompressBody } from './compression.js';
import { dateHeaderText } from './dates.js';
import { findUnencodable, type EncodableFormat } from './encodable.js';
import { preview } from '../util/preview.js';
import { MAX_DEAD_LETTER_ERROR_CHARS, MAX_REPR_CHARS, truncateText } from '../util/truncate.js';
import { serializerForContentType, serializerNamed, type Serializer } from './serializers.js';
import { isPlainObject } from '../util/plain-object.js';

/**
 * Celery's task message protocol v2, field names as on the wire.
 * See docs/protocol.md. Vectors captured from Celery 5.2.6 decode with decodeTaskMessage and
 * re-encode with encodeTaskMessage to equivalent messages (spec/unit/protocol.test.ts).
 */

/** A signature as Celery serializes it inside messages (callbacks, chain, chord). */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  /** Nested canvas types (group, chord, chain) carry extra keys; kept as they came. */
  [extra: string]: unknown;
}

/** The third body element: work to do after this task. */
export interface MessageEmbed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  /** Remaining chain steps, reversed: the next step is the last element. */
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** AMQP headers of a v2 task message. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  /** ISO 8601; the task must not start before it. */
  eta: string | null;
  /** ISO 8601; the task must not start after it. */
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** [hard, soft] in seconds, as Celery's code sends it. */
  timelimit: readonly [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  /** Headers celeriac does not know are carried through untouched. */
  [extra: string]: unknown;
}

export interface TaskMessage {
  headers: TaskHeaders;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: MessageEmbed;
  /** correlation_id is always the task id. */
  replyTo?: string;
  priority?: number;
  /** AMQP per-message TTL, ms. */
  expiration?: number;
  /** False: a transient message (delivery mode 1), kept by the broker in memory only. Default true. */
  persistent?: boolean;
}

/** Encodes with the named serializer. Throws SerializationError when the args cannot be encoded. */
export function encodeTaskMessage(message: TaskMessage, serializerName: string): OutgoingMessage {
  const serializer = serializerNamed(serializerName);
  if (!serializer) throw new SerializationError(`unknown serializer "${serializerName}"`);
  const embed = message.embed;
  let body: Buffer;
  try {
    body = serializer.encode([
      message.args,
      message.kwargs,
      { callbacks: embed.callbacks, errbacks: embed.errbacks, chain: embed.chain, chord: embed.chord },
    ]);
  } catch (error) {
    throw argumentsError(message, serializer, error);
  }
  const { id } = message.headers;
  const persistent = message.persistent ?? true;
  const priority = message.priority ?? 0;
  const { contentType, contentEncoding } = serializer;
  // messageId lets the broker's returns be matched to this publish without an extra header.
  // replyTo is in the literal rather than added after it: an unconfirmed send keeps this object,
  // and a property added later takes a property array of its own (40 bytes per send).
  const { headers, replyTo } = message;
  const outgoing: OutgoingMessage =
    replyTo === undefined
      ? { body, contentType, contentEncoding, headers, correlationId: id, messageId: id, persistent, priority }
      : { body, contentType, contentEncoding, headers, correlationId: id, messageId: id, persistent, priority, replyTo };
  if (message.expiration !== undefined) outgoing.expiration = String(Math.max(0, Math.round(message.expiration)));
  return outgoing;
}

export interface DecodeOptions {
  /**
   * Most bytes a compressed body may inflate to (the worker's `maxMessageSize`); null: no bound
   * but Node's Buffer limit. Default DEFAULT_MAX_MESSAGE_BYTES (64 MiB).
   */
  maxBodyBytes?: number | null;
}

/** The encode error, named after the argument at fault when it is one (`args[1].cache`). */
function argumentsError(message: TaskMessage, serializer: Serializer, error: unknown): unknown {
  const format = serializer.name as EncodableFormat;
  const problem = findUnencodable(message.args, format, 'args') ?? findUnencodable(message.kwargs, format, 'kwargs');
  if (!problem) return error;
  return new SerializationError(`arguments of task ${message.headers.task} cannot be sent: ${problem}`, { cause: error });
}

/**
 * Decodes a delivery into a TaskMessage, or throws InvalidMessageError with the reason
 * ('content-type', 'compression', 'too-large', 'decode', 'headers', 'body-shape') that goes into
 * dead-letter headers. `accept` lists serializer names this consumer accepts (content types
 * outside it are refused before any decoding, as Celery's accept_content does). A body with a
 * `compression` header (kombu's) is inflated first, within `options.maxBodyBytes`.
 */
export function decodeTaskMessage(
  body: Buffer,
  properties: MessageProperties,
  accept: readonly string[],
  options: DecodeOptions = {},
): TaskMessage {
  const serializer = acceptedSerializer(properties.contentType, accept);
  const compression = properties.headers?.[COMPRESSION_HEADER];
  if (compression !== undefined && compression !== null) {
    body = decompressBody(body, compression, options.maxBodyBytes);
  }
  let decoded: unknown;
  try {
    decoded = serializer.decode(body);
  } catch (error) {
    throw new InvalidMessageError('decode', truncateText(String((error as Error).message), MAX_DEAD_LETTER_ERROR_CHARS), { cause: error });
  }
  const headers = validateHeaders(properties.headers);
  if (!Array.isArray(decoded) || decoded.length !== 3) {
    throw new InvalidMessageError('body-shape', 'body must be a 3-element array [args, kwargs, embed]');
  }
  const [args, kwargs, embed] = decoded as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new InvalidMessageError('body-shape', 'body[0] (args) must be an array');
  if (!isPlainObject(kwargs)) throw new InvalidMessageError('body-shape', 'body[1] (kwargs) must be an object');
  if (embed !== null && !isPlainObject(embed)) {
    throw new InvalidMessageError('body-shape', 'body[2] (embed) must be an object or null');
  }
  const message: TaskMessage = {
    headers,
    args,
    kwargs,
    embed: validateEmbed(embed ?? {}),
  };
  if (properties.replyTo) message.replyTo = properties.replyTo;
  if (typeof properties.priority === 'number') message.priority = properties.priority;
  return message;
}

function acceptedSerializer(contentType: string | undefined, accept: readonly string[]): Serializer {
  if (!contentType) throw new InvalidMessageError('content-type', 'message has no content type');
  const serializer = serializerForContentType(contentType);
  if (!serializer) throw new InvalidMessageError('content-type', `unsupported content type "${contentType}"`);
  if (!accept.includes(serializer.name)) {
    throw new InvalidMessageError('content-type', `content type "${contentType}" is not accepted (accept: ${accept.join(', ')})`);
  }
  return serializer;
}

function validateHeaders(raw: Record<string, unknown> | undefined): TaskHeaders {
  if (!raw || typeof raw !== 'object') throw new InvalidMessageError('headers', 'message has no headers');
  if (typeof raw.task !== 'string' || raw.task === '') {
    throw new InvalidMessageError('headers', 'header "task" is missing (not a protocol v2 task message)');
  }
  if (typeof raw.id !== 'string' || raw.id === '') throw new InvalidMessageError('headers', 'header "id" is missing');
  const optionalString = (name: string): string | null => {
    const value = raw[name];
    if (value === undefined || value === null) return null;
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    throw new InvalidMessageError('headers', `header "${name}" must be a string or null`);
  };
  const retries = raw.retries ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) {
    throw new InvalidMessageError('headers', 'header "retries" must be a non-negative integer');
  }
  const groupIndex = raw.group_index ?? null;
  if (groupIndex !== null && typeof groupIndex !== 'number') {
    throw new InvalidMessageError('headers', 'header "group_index" must be a number or null');
  }
  return {
    ...raw,
    lang: optionalString('lang') ?? 'py',
    task: raw.task,
    id: raw.id,
    shadow: optionalString('shadow'),
    eta: dateHeader(raw, 'eta'),
    expires: dateHeader(raw, 'expires'),
    group: optionalString('group'),
    group_index: groupIndex,
    retries,
    timelimit: validateTimelimit(raw.timelimit),
    root_id: optionalString('root_id') ?? raw.id,
    parent_id: optionalString('parent_id'),
    // Shown in logs and events: cut as Celery cuts its own (argsrepr_maxsize).
    argsrepr: truncateText(optionalString('argsrepr') ?? '', MAX_REPR_CHARS),
    kwargsrepr: truncateText(optionalString('kwargsrepr') ?? '', MAX_REPR_CHARS),
    origin: optionalString('origin') ?? '',
    ignore_result: raw.ignore_result === true,
  };
}

/**
 * A date header (`eta`, `expires`) as ISO 8601 text, or null. A value that is not a date is
 * refused, as Celery refuses it: read as "no date" it would run the task at once.
 */
function dateHeader(raw: Record<string, unknown>, name: 'eta' | 'expires'): string | null {
  const text = dateHeaderText(raw[name]);
  if (text === undefined) {
    throw new InvalidMessageError('headers', `header "${name}" must be an ISO 8601 date-time or null, got ${preview(raw[name], 100)}`);
  }
  return text;
}

function validateTimelimit(value: unknown): [number | null, number | null] {
  if (value === undefined || value === null) return [null, null];
  const ok = (v: unknown): v is number | null => v === null || (typeof v === 'number' && v >= 0);
  if (Array.isArray(value) && value.length === 2 && ok(value[0]) && ok(value[1])) return [value[0], value[1]];
  throw new InvalidMessageError('headers', 'header "timelimit" must be [hard, soft] (numbers or null)');
}

function validateEmbed(embed: Record<string, unknown>): MessageEmbed {
  const signatureList = (name: string): SignatureDict[] | null => {
    const value = embed[name];
    if (value === undefined || value === null) return null;
    if (Array.isArray(value) && value.every(isSignatureDict)) return value;
    throw new InvalidMessageError('body-shape', `embed "${name}" must be a list of signatures or null`);
  };
  const chord = embed.chord ?? null;
  if (chord !== null && !isSignatureDict(chord)) {
    throw new InvalidMessageError('body-shape', 'embed "chord" must be a signature or null');
  }
  return {
    callbacks: signatureList('callbacks'),
    errbacks: signatureList('errbacks'),
    chain: signatureList('chain'),
    chord,
  };
}

function isSignatureDict(value: unknown): value is SignatureDict {
  return isPlainObject(value) && typeof value.task === 'string';
}
