import type { QueueDeclaration } from '../broker/transport.js';

/**
 * Celery's remote-control mailbox (kombu.pidbox, namespace "celery"), as Celery 5.2 declares it:
 *
 * - requests go to the fanout exchange `celery.pidbox` (not durable); every worker consumes its
 *   own queue `<hostname>.celery.pidbox` bound to it (not durable, auto-delete, expires 10 s,
 *   message TTL 300 s — Celery's control_queue_expires / control_queue_ttl);
 * - a request body is `{method, arguments, destination, pattern, matcher}` (control-request.ts), plus `ticket` and
 *   `reply_to: {exchange, routing_key}` when the sender wants replies; headers carry a Lamport
 *   `clock` and `expires` (epoch seconds; 0 = never);
 * - a reply `{<hostname>: <result>}` goes to the direct exchange `reply.celery.pidbox` (not
 *   durable) with the client's id as routing key and the request's ticket in the `ticket` header;
 *   the client's queue is `<oid>.reply.celery.pidbox`.
 *
 * Messages are transient (delivery mode 1) and JSON (msgpack is accepted on input).
 */
export const NAMESPACE = 'celery';
export const CONTROL_EXCHANGE = `${NAMESPACE}.pidbox`;
export const REPLY_EXCHANGE = `reply.${NAMESPACE}.pidbox`;
const QUEUE_TTL_MS = 300_000;
const QUEUE_EXPIRES_MS = 10_000;

/** A worker's reply, keyed by its node name. */
export type ControlReply = Record<string, unknown>;

export function nodeQueue(hostname: string): QueueDeclaration {
  return {
    name: `${hostname}.${NAMESPACE}.pidbox`,
    durable: false,
    autoDelete: true,
    messageTtl: QUEUE_TTL_MS,
    expires: QUEUE_EXPIRES_MS,
    exchange: CONTROL_EXCHANGE,
    exchangeType: 'fanout',
    exchangeDurable: false,
    routingKey: '',
  };
}

export function replyQueue(oid: string): QueueDeclaration {
  return {
    name: `${oid}.${REPLY_EXCHANGE}`,
    durable: false,
    autoDelete: true,
    messageTtl: QUEUE_TTL_MS,
    expires: QUEUE_EXPIRES_MS,
    exchange: REPLY_EXCHANGE,
    exchangeType: 'direct',
    exchangeDurable: false,
    routingKey: oid,
  };
}
