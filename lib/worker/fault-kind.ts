import { BackendError, BrokerConnectionError, ClosedError, PublishError, TransportError } from '../errors/errors.js';

/**
 * Whether an error met while recording a task's outcome or passing its workflow on is an outage
 * that a later attempt could get past — so the message is requeued and its task runs again — or
 * belongs to the message itself and would fail the same way every time.
 *
 * The rule the worker keeps (docs/reliability.md, "After the body ran"): only an outage of the
 * broker or the result backend is a reason to run a task again. Retryable:
 * - PublishError `closed`, `confirm-timeout`, `nacked`: the connection or channel went away, or
 *   the broker did not take the message this time;
 * - BrokerConnectionError, ClosedError: the broker is unreachable, or the app is shutting down
 *   (the message is returned and redelivered);
 * - BackendError that is not `permanent`: the store is unreachable, slow, busy or loading;
 * - a socket error (ECONNRESET, ETIMEDOUT...) or amqplib's error for an operation on a closing
 *   channel; an AMQP close whose reply code is in RETRYABLE_REPLY_CODES (the broker went away or
 *   ran short for a while: 320, 504, 506, 541).
 * Everything else is deterministic: an unroutable publish (no such exchange, nothing bound), a
 * bad option (ConfigError, TypeError, RangeError — including amqplib's for a header table over
 * 64 KiB), a value that cannot be serialized, a permanent backend refusal (Redis WRONGTYPE), any
 * other AMQP reply code (403/404/405/406 on a declaration, 311 content too large, 503 command
 * invalid, 530 not allowed, 540 not implemented, the frame errors 501/502/505...).
 */
export function isRetryableFault(error: unknown): boolean {
  if (error instanceof PublishError) return error.reason !== 'unroutable';
  if (error instanceof BackendError) return !error.permanent;
  if (error instanceof TransportError) return error.transient;
  if (error instanceof BrokerConnectionError || error instanceof ClosedError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { name, code } = error as { name?: unknown; code?: unknown };
  if (name === 'IllegalOperationError') return true;
  if (typeof code === 'string') return SOCKET_CODES.has(code);
  if (typeof code === 'number') return RETRYABLE_REPLY_CODES.has(code);
  return false;
}

const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTCONN', 'ENETDOWN', 'ESOCKETTIMEDOUT']);

/**
 * AMQP reply codes of a close that says nothing about the operation: 320 CONNECTION_FORCED (the
 * broker or an operator closed the connection), 504 CHANNEL_ERROR (a channel not open, as after
 * a reconnect), 506 RESOURCE_ERROR (the broker ran short of a resource), 541 INTERNAL_ERROR. Every
 * other code refuses the operation itself and would refuse it again.
 */
export const RETRYABLE_REPLY_CODES: ReadonlySet<number> = new Set([320, 504, 506, 541]);
