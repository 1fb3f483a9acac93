import { isTransientBrokerFault } from '../broker/transport-faults.js';
import { BackendError, BrokerConnectionError, ClosedError, PublishError } from '../errors/errors.js';

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
 * - a socket error (ECONNRESET, ETIMEDOUT...); a broker fault the transport calls transient
 *   (isTransientBrokerFault: the broker or channel went away, or ran short for a while).
 * Everything else is deterministic: an unroutable publish (no such exchange, nothing bound), a
 * bad option (ConfigError, TypeError, RangeError — including amqplib's for a header table over
 * 64 KiB), a value that cannot be serialized, a permanent backend refusal (Redis WRONGTYPE), any
 * other broker refusal (a TransportError whose reason is not 'unavailable': a declaration that
 * contradicts the queue, a missing queue, no access, a message too large...).
 */
export function isRetryableFault(error: unknown): boolean {
  if (error instanceof PublishError) return error.reason !== 'unroutable';
  if (error instanceof BackendError) return !error.permanent;
  if (error instanceof BrokerConnectionError || error instanceof ClosedError) return true;
  const broker = isTransientBrokerFault(error);
  if (broker !== undefined) return broker;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}

const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTCONN',
  'ENETDOWN',
  'ESOCKETTIMEDOUT',
]);
