import { MAX_ROUTE_NAME_BYTES, routeNameProblem } from '../broker/route-names.js';
import { isPlainObject } from '../util/plain-object.js';
import { truncateText } from '../util/truncate.js';
import type { Addressing } from './addressing.js';

/**
 * A remote-control request as it arrives on a node's mailbox queue, checked field by field.
 * Anyone who can publish to `celery.pidbox` writes these, so nothing in a body is used before
 * it is known to have the type and size kombu's client would send:
 *
 *   { method: str, arguments: dict, destination: [str] | None, pattern: str | None,
 *     matcher: 'glob' | 'pcre' | None, ticket?: str, reply_to?: {exchange: str, routing_key: str} }
 *
 * A request whose addressing or reply fields are malformed is refused whole (who it is for, or
 * where to answer, is unknown): the node logs it and drops it. One whose method or arguments
 * are malformed is still answerable: the node replies `{error}` as Celery does.
 */
export interface ControlRequest extends Addressing {
  method: string;
  arguments: Record<string, unknown>;
  ticket?: string;
  reply_to?: ReplyTo;
}

export interface ReplyTo {
  exchange: string;
  routing_key: string;
}

/** Most node names a destination may list. */
export const MAX_DESTINATIONS = 1000;
const MAX_METHOD_LENGTH = 64;
const METHOD_SHAPE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Longest string describeValue quotes (with its truncation marker). */
const QUOTED_STRING_CHARS = 80;

export type ParsedRequest =
  /** Addressing and reply fields are sound; `problem` is set when method or arguments are not. */
  { ok: true; request: ControlRequest; problem: string | null } | { ok: false; problem: string };

export function parseControlRequest(body: unknown): ParsedRequest {
  if (!isPlainObject(body)) return { ok: false, problem: `body is ${describeType(body)}, expected an object` };
  const destination = body.destination;
  if (destination !== undefined && destination !== null) {
    if (!Array.isArray(destination))
      return { ok: false, problem: `destination is ${describeType(destination)}, expected a list of node names or null` };
    if (destination.length > MAX_DESTINATIONS)
      return { ok: false, problem: `destination lists ${destination.length} names, at most ${MAX_DESTINATIONS} accepted` };
    if (!destination.every((name) => typeof name === 'string'))
      return { ok: false, problem: 'destination holds something other than node names (strings)' };
  }
  const pattern = body.pattern;
  if (pattern !== undefined && pattern !== null && typeof pattern !== 'string')
    return { ok: false, problem: `pattern is ${describeType(pattern)}, expected a string or null` };
  const matcher = body.matcher;
  if (matcher !== undefined && matcher !== null && matcher !== 'glob' && matcher !== 'pcre') {
    return { ok: false, problem: `matcher is ${describeValue(matcher)}, expected 'glob', 'pcre' or null` };
  }
  const ticket = body.ticket;
  if (ticket !== undefined && ticket !== null && !(typeof ticket === 'string' && ticket.length <= MAX_ROUTE_NAME_BYTES)) {
    return { ok: false, problem: `ticket is ${describeType(ticket)}, expected a string of at most ${MAX_ROUTE_NAME_BYTES} characters` };
  }
  const replyTo = body.reply_to;
  let reply: ReplyTo | undefined;
  if (replyTo !== undefined && replyTo !== null) {
    const problem = replyToProblem(replyTo);
    if (problem) return { ok: false, problem };
    reply = { exchange: (replyTo as ReplyTo).exchange, routing_key: (replyTo as ReplyTo).routing_key };
  }
  const request: ControlRequest = {
    method: typeof body.method === 'string' ? body.method : '',
    arguments: {},
    destination: destination ?? null,
    pattern: pattern || null,
    matcher: matcher ?? null,
    ...(typeof ticket === 'string' ? { ticket } : {}),
    ...(reply ? { reply_to: reply } : {}),
  };
  const method = body.method;
  if (typeof method !== 'string' || method.length > MAX_METHOD_LENGTH || !METHOD_SHAPE.test(method)) {
    return { ok: true, request, problem: `method is ${describeValue(method)}, expected a command name` };
  }
  const args = body.arguments;
  if (args !== undefined && args !== null && !isPlainObject(args)) {
    return { ok: true, request, problem: `arguments is ${describeType(args)}, expected a mapping of argument names to values` };
  }
  request.arguments = args ?? {};
  return { ok: true, request, problem: null };
}

/** Why `replyTo` is not a route a reply can be published to (route-names.ts), or null. */
function replyToProblem(replyTo: unknown): string | null {
  if (!isPlainObject(replyTo)) return `reply_to is ${describeType(replyTo)}, expected {exchange, routing_key}`;
  for (const field of ['exchange', 'routing_key'] as const) {
    const value = replyTo[field];
    if (typeof value !== 'string') return `reply_to.${field} is ${describeType(value)}, expected a string`;
  }
  const problem = routeNameProblem(replyTo.exchange as string, replyTo.routing_key as string);
  return problem && `reply_to: ${problem}`;
}

/** What a value is, for a message that must not echo it whole. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'object') return Buffer.isBuffer(value) || value instanceof Uint8Array ? 'binary' : 'a mapping';
  // A number, bigint, boolean, symbol or function by now: String() is its text.
  // oxlint-disable-next-line typescript/no-base-to-string
  return `${typeof value} ${truncateText(String(value), 40)}`;
}

/** A value for a message: a string quoted (cut by truncateText to QUOTED_STRING_CHARS), anything else as describeType. */
export function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(truncateText(value, QUOTED_STRING_CHARS)) : describeType(value);
}
