import type { TlsFailureKind } from '../util/tls-failure.js';

/**
 * Every error celeriac raises on purpose. Each class has a stable `code` (documented in
 * docs/errors.md; a unit spec fails when a code is missing there) so callers can branch on
 * `err.code` instead of matching messages.
 *
 * `instanceof` also works across module copies and worker threads: each class is tagged with a
 * `Symbol.for` marker and `Symbol.hasInstance` checks the marker, not the prototype chain.
 */

const MARK = Symbol.for('celeriac.error.code');

export abstract class CeleriacError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const code = (value as Record<symbol, unknown>)[MARK];
    if (typeof code !== 'string') return false;
    if (this === CeleriacError) return true;
    // A subclass matches when the value's class chain contains this class's code.
    const codes = (value as Record<symbol, unknown>)[CODES] as string[] | undefined;
    const own = (this as unknown as { prototype: Record<symbol, unknown> }).prototype[MARK];
    return Array.isArray(codes) && typeof own === 'string' && codes.includes(own);
  }
}

const CODES = Symbol.for('celeriac.error.codes');

/** Tags a class so that instances carry its code and the codes of its ancestors. */
function tag(cls: { prototype: object }, code: string): void {
  const proto = cls.prototype as Record<symbol, unknown>;
  const parent = Object.getPrototypeOf(proto) as Record<symbol, unknown>;
  const inherited = (parent[CODES] as string[] | undefined) ?? [];
  Object.defineProperty(proto, MARK, { value: code });
  Object.defineProperty(proto, CODES, { value: [...inherited, code] });
  Object.defineProperty(proto, 'code', { value: code, enumerable: true });
}

/** A createApp option, CLI flag or call option that is unknown or has a bad value. */
export class ConfigError extends CeleriacError {
  declare readonly code: 'CELERIAC_CONFIG';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}
tag(ConfigError, 'CELERIAC_CONFIG');

/** A URL whose scheme no transport or result backend is registered for. */
export class UnknownSchemeError extends CeleriacError {
  declare readonly code: 'CELERIAC_UNKNOWN_SCHEME';
  constructor(
    readonly kind: 'broker' | 'backend',
    scheme: string,
    known: string[],
  ) {
    super(`unknown ${kind} URL scheme "${scheme}"; known schemes: ${known.join(', ')}`);
  }
}
tag(UnknownSchemeError, 'CELERIAC_UNKNOWN_SCHEME');

/** The broker could not be reached (after the configured retries). `url` has no password. */
export class BrokerConnectionError extends CeleriacError {
  /** Its own, or a subclass's (BrokerAccessRefusedError, BrokerTlsError). */
  declare readonly code: 'CELERIAC_BROKER_UNREACHABLE' | 'CELERIAC_BROKER_ACCESS_REFUSED' | 'CELERIAC_BROKER_TLS';
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`broker ${url}: ${message}`, options);
  }
}
tag(BrokerConnectionError, 'CELERIAC_BROKER_UNREACHABLE');

/**
 * The broker refused the connection on purpose: a wrong user name or password, or a virtual host
 * that does not exist or the user may not use. Not retried: it fails every waiting operation at
 * once. A BrokerConnectionError too, so code that handles an unreachable broker handles this.
 */
export class BrokerAccessRefusedError extends BrokerConnectionError {
  declare readonly code: 'CELERIAC_BROKER_ACCESS_REFUSED' | 'CELERIAC_BROKER_TLS';
}
tag(BrokerAccessRefusedError, 'CELERIAC_BROKER_ACCESS_REFUSED');

/** A TLS handshake with the broker that retrying cannot mend; `reason` says why. Refused like bad credentials. */
export class BrokerTlsError extends BrokerAccessRefusedError {
  declare readonly code: 'CELERIAC_BROKER_TLS';
  constructor(
    url: string,
    readonly reason: TlsFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(url, message, options);
  }
}
tag(BrokerTlsError, 'CELERIAC_BROKER_TLS');

/**
 * The result backend could not be reached or refused an operation. `url` has no password.
 * `permanent`: the store answered and refused this operation (e.g. Redis WRONGTYPE: the key
 * holds a value of another type) or holds data that cannot be decoded — trying again cannot
 * help. False for an outage (unreachable, timed out, connection lost, store busy or loading).
 */
export class BackendError extends CeleriacError {
  declare readonly code: 'CELERIAC_BACKEND';
  readonly permanent: boolean;
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown; permanent?: boolean },
  ) {
    super(`result backend ${url}: ${message}`, options);
    this.permanent = options?.permanent ?? false;
  }
}
tag(BackendError, 'CELERIAC_BACKEND');

/** A publish the broker did not accept: returned as unroutable, nacked, or not confirmed in time. */
export class PublishError extends CeleriacError {
  declare readonly code: 'CELERIAC_PUBLISH_FAILED';
  constructor(
    readonly reason: 'unroutable' | 'nacked' | 'confirm-timeout' | 'closed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
tag(PublishError, 'CELERIAC_PUBLISH_FAILED');

/** A value that the chosen serializer cannot encode or decode. */
export class SerializationError extends CeleriacError {
  declare readonly code: 'CELERIAC_SERIALIZATION';
}
tag(SerializationError, 'CELERIAC_SERIALIZATION');

/**
 * A delivery that is not a task message celeriac can run: undecodable body, content type not
 * accepted, wrong headers or body shape, unknown task, or an embedded workflow (callbacks,
 * errbacks, chain, chord) that could never be sent. `reason` goes into the dead-letter headers
 * verbatim.
 */
export class InvalidMessageError extends CeleriacError {
  declare readonly code: 'CELERIAC_INVALID_MESSAGE';
  constructor(
    readonly reason: 'decode' | 'content-type' | 'compression' | 'too-large' | 'headers' | 'body-shape' | 'unknown-task' | 'embed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
tag(InvalidMessageError, 'CELERIAC_INVALID_MESSAGE');

/**
 * A part of a task's workflow (callback, errback, chain step, chord body) that the worker could
 * not send for a reason no retry can fix: a bad option, an exchange that does not exist, a
 * message the broker client cannot encode. The part's task ids are recorded FAILURE with it,
 * and the message that carried it goes to `<queue>.dead-letter` with reason `workflow`.
 * `part` names which part (`workflow`: none in particular), `task` its task name.
 */
export class UnsendableError extends CeleriacError {
  declare readonly code: 'CELERIAC_UNSENDABLE';
  constructor(
    readonly part: 'callback' | 'errback' | 'chain' | 'chord-body' | 'chord-report' | 'workflow',
    readonly task: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
tag(UnsendableError, 'CELERIAC_UNSENDABLE');

/** `AsyncResult.get()` did not see a final state within its timeout. */
export class ResultTimeoutError extends CeleriacError {
  declare readonly code: 'CELERIAC_RESULT_TIMEOUT';
  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
  ) {
    super(`no result for task ${taskId} within ${timeoutMs} ms`);
  }
}
tag(ResultTimeoutError, 'CELERIAC_RESULT_TIMEOUT');

/**
 * A task ended in FAILURE or REVOKED. `state` names which; `excType`, `excMessage`,
 * `excModule` and `traceback` are what the worker that ran it recorded (Python or Node).
 */
export class TaskFailedError extends CeleriacError {
  declare readonly code: 'CELERIAC_TASK_FAILED';
  constructor(
    readonly taskId: string,
    readonly state: 'FAILURE' | 'REVOKED',
    readonly excType: string,
    readonly excMessage: string,
    readonly excModule: string | null,
    readonly traceback: string | null,
  ) {
    super(`task ${taskId} ended in ${state}: ${excType}: ${excMessage}`);
  }
}
tag(TaskFailedError, 'CELERIAC_TASK_FAILED');

/** Used after `app.close()` or worker shutdown began. */
export class ClosedError extends CeleriacError {
  declare readonly code: 'CELERIAC_CLOSED';
}
tag(ClosedError, 'CELERIAC_CLOSED');

/**
 * Thrown by a task to fail at once: never retried, whatever `autoretryFor` says. The task is
 * recorded FAILURE with this error (or, when given, with `cause`'s type and message kept in the message).
 */
export class NonRetryableError extends CeleriacError {
  /** Its own, or a subclass's (EffectUncertainError). */
  declare readonly code: 'CELERIAC_NON_RETRYABLE' | 'CELERIAC_EFFECT_UNCERTAIN';
}
tag(NonRetryableError, 'CELERIAC_NON_RETRYABLE');

/** `context.retry()` without `exc` after `maxRetries` retries: the task is recorded FAILURE with this. */
export class MaxRetriesExceededError extends CeleriacError {
  declare readonly code: 'CELERIAC_MAX_RETRIES';
  constructor(
    readonly taskName: string,
    readonly taskId: string,
    readonly maxRetries: number,
  ) {
    super(`task ${taskName}[${taskId}] cannot be retried: it was retried ${maxRetries} time(s) already (maxRetries)`);
  }
}
tag(MaxRetriesExceededError, 'CELERIAC_MAX_RETRIES');

/**
 * The task ran past its soft time limit: the reason of its context's `signal` (aborted at that
 * moment). The task may catch it and clean up; if it throws it, it is recorded FAILURE with it.
 */
export class SoftTimeLimitExceeded extends CeleriacError {
  declare readonly code: 'CELERIAC_SOFT_TIME_LIMIT';
  constructor(readonly limitMs: number) {
    super(`soft time limit (${limitMs / 1000}s) exceeded`);
  }
}
tag(SoftTimeLimitExceeded, 'CELERIAC_SOFT_TIME_LIMIT');

/** The task ran past its hard time limit: it was stopped (see docs/tasks.md for each pool) and recorded FAILURE with this. */
export class TimeLimitExceeded extends CeleriacError {
  declare readonly code: 'CELERIAC_TIME_LIMIT';
  constructor(readonly limitMs: number) {
    super(`hard time limit (${limitMs / 1000}s) exceeded`);
  }
}
tag(TimeLimitExceeded, 'CELERIAC_TIME_LIMIT');

/**
 * `once()` in at-most-once mode found an earlier run's claim on the effect abandoned: that run
 * started the effect and stopped renewing its claim (its worker died), so whether the effect
 * happened is unknown. Not retried (a NonRetryableError): running it again could do it twice.
 */
export class EffectUncertainError extends NonRetryableError {
  declare readonly code: 'CELERIAC_EFFECT_UNCERTAIN';
  constructor(
    readonly taskId: string,
    readonly key: string,
  ) {
    super(
      `effect "${key}" of task ${taskId} was started by an earlier run that did not finish it (its worker died?); ` +
        'at-most-once: not running it again',
    );
  }
}
tag(EffectUncertainError, 'CELERIAC_EFFECT_UNCERTAIN');

/** Every code above, for the docs check. */
export const ERROR_CODES = [
  'CELERIAC_CONFIG',
  'CELERIAC_UNKNOWN_SCHEME',
  'CELERIAC_BROKER_UNREACHABLE',
  'CELERIAC_BROKER_ACCESS_REFUSED',
  'CELERIAC_BACKEND',
  'CELERIAC_PUBLISH_FAILED',
  'CELERIAC_SERIALIZATION',
  'CELERIAC_INVALID_MESSAGE',
  'CELERIAC_UNSENDABLE',
  'CELERIAC_RESULT_TIMEOUT',
  'CELERIAC_TASK_FAILED',
  'CELERIAC_CLOSED',
  'CELERIAC_NON_RETRYABLE',
  'CELERIAC_MAX_RETRIES',
  'CELERIAC_SOFT_TIME_LIMIT',
  'CELERIAC_TIME_LIMIT',
  'CELERIAC_EFFECT_UNCERTAIN',
  'CELERIAC_TRANSPORT',
  'CELERIAC_THREAD_POOL',
  'CELERIAC_CANVAS',
  'CELERIAC_MALFORMED_SIGNATURE',
  'CELERIAC_BROKER_TLS',
] as const;

// Broker transport.

/**
 * Why the broker refused an operation (declare, purge, count, get, consume), in the transport's
 * words; each adapter maps its broker's replies onto these (the AMQP adapter: reply codes).
 * - precondition-failed: it contradicts what exists (a queue or exchange declared otherwise);
 * - not-found: the queue or exchange does not exist;
 * - access-refused: the user may not do it on that resource;
 * - resource-locked: an exclusive queue of another connection;
 * - not-allowed / invalid: an operation the broker does not allow, or a malformed one;
 * - unavailable: the broker or the channel went away, or ran short for a while (try again).
 */
export type TransportErrorReason =
  'precondition-failed' | 'not-found' | 'access-refused' | 'resource-locked' | 'not-allowed' | 'invalid' | 'unavailable';

/** The broker refused an operation of the transport; `reason` says why, `transient` whether trying again may succeed. */
export class TransportError extends CeleriacError {
  declare readonly code: 'CELERIAC_TRANSPORT';
  constructor(
    readonly reason: TransportErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when the refusal says nothing about the operation itself (reason 'unavailable'). */
  get transient(): boolean {
    return this.reason === 'unavailable';
  }
}
tag(TransportError, 'CELERIAC_TRANSPORT');

// Worker: the threads pool.

/** Why the threads pool could not run a task (ThreadPoolError.reason). */
export type ThreadPoolFailure = 'thread-exited' | 'no-app' | 'unknown-task' | 'too-many-jobs';

/**
 * The threads pool could not run a task: its thread exited while running it (`thread-exited`),
 * the app module a thread imports exports no app (`no-app`), the thread's app has no task of
 * that name (`unknown-task`), or more jobs came at once than the pool has threads
 * (`too-many-jobs`: a worker never does that). The task is recorded FAILURE with it. Rebuilt as
 * a ThreadPoolError, with its reason, when it comes out of a thread.
 */
export class ThreadPoolError extends CeleriacError {
  declare readonly code: 'CELERIAC_THREAD_POOL';
  constructor(
    readonly reason: ThreadPoolFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
tag(ThreadPoolError, 'CELERIAC_THREAD_POOL');

// Canvas.

/**
 * A canvas (signature, chain, group, chord) used in a way it cannot be sent: a chain of no
 * steps, a node sent before `freeze()` gave it ids, one not bound to an app, a group or chord
 * placed where its members could not report to it. Also a MalformedSignatureError's class.
 */
export class CanvasError extends CeleriacError {
  /** Its own, or a subclass's (MalformedSignatureError). */
  declare readonly code: 'CELERIAC_CANVAS' | 'CELERIAC_MALFORMED_SIGNATURE';
}
tag(CanvasError, 'CELERIAC_CANVAS');

/**
 * A value read as Celery's signature dict (`{task, args, kwargs, options, subtask_type,
 * immutable}`, from a message embed, the CLI or `nodeFromDict`) that is not one. `field` is the
 * path of the field at fault (`''`: the value itself; `kwargs.tasks[2].options.link`), `problem`
 * what is wrong with it.
 */
export class MalformedSignatureError extends CanvasError {
  declare readonly code: 'CELERIAC_MALFORMED_SIGNATURE';
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    // A deep path keeps its two ends: where it starts, and the field at fault.
    const shownField = field.length > 200 ? `${field.slice(0, 80)}…${field.slice(-100)}` : field;
    super(field ? `signature ${shownField}: ${problem}` : `signature: ${problem}`);
  }
}
tag(MalformedSignatureError, 'CELERIAC_MALFORMED_SIGNATURE');
