import type { Options, MessageProperties as AmqpProperties } from 'amqplib';
import { preview } from '../../util/preview.js';
import type { MessageProperties, OutgoingMessage } from '../transport.js';
import { isTypedFieldValue, portableHeaders } from './header-values.js';

/**
 * Stamped on a publish that carries nothing else a basic.return can be matched to its publish by
 * while many are in flight (see returnKeyOf). Consumers strip it: callers never see it.
 */
export const PUBLISH_SEQ_HEADER = 'x-celeriac-publish-seq';

/**
 * The key a basic.return is matched to its publish by: the publish sequence header, when
 * stamped; else the messageId (a task message's is its task id); else the correlationId (an
 * rpc:// result's is its task id). The publisher keeps each key unique among its unsettled
 * publishes: it stamps a publish whose messageId or correlationId an unsettled unstamped one
 * already claims (a task id sent twice at once), and one that has neither.
 */
export function returnKeyOf(properties: { messageId?: unknown; correlationId?: unknown; headers?: Record<string, unknown> }): string {
  const { messageId, correlationId, headers } = properties;
  // On a publish's own options the stamp may be typed for py-amqp (header-values.ts).
  const stamp = headers?.[PUBLISH_SEQ_HEADER];
  const seq = isTypedFieldValue(stamp) ? stamp.value : stamp;
  if (typeof seq === 'number' || typeof seq === 'string' || typeof seq === 'bigint') return `seq:${seq}`;
  if (seq !== undefined) return `seq:${preview(seq, 100)}`;
  if (typeof messageId === 'string' && messageId !== '') return `id:${messageId}`;
  if (typeof correlationId === 'string' && correlationId !== '') return `cid:${correlationId}`;
  return 'none';
}

/**
 * amqplib publish options for a message; `seq` (null: none) is stamped as PUBLISH_SEQ_HEADER.
 * The message's headers object is used as it is when nothing is stamped and no integer in it
 * needs a type of its own for Python clients (portableHeaders): it is not copied.
 */
export function toPublishOptions(message: OutgoingMessage, mandatory: boolean, seq: number | null): Options.Publish {
  const headers = portableHeaders(seq === null ? message.headers : { ...message.headers, [PUBLISH_SEQ_HEADER]: seq });
  return {
    mandatory,
    persistent: message.persistent ?? true,
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers,
    correlationId: message.correlationId,
    replyTo: message.replyTo,
    priority: message.priority,
    expiration: message.expiration,
    messageId: message.messageId,
  };
}

/** celeriac properties of a received message; absent AMQP properties stay absent. */
export function fromAmqpProperties(properties: AmqpProperties): MessageProperties {
  // amqplib decodes a fresh headers object per message: it is copied only to drop the stamp.
  let headers: Record<string, unknown> = properties.headers ?? {};
  if (PUBLISH_SEQ_HEADER in headers) {
    const { [PUBLISH_SEQ_HEADER]: _stamp, ...rest } = headers;
    headers = rest;
  }
  const result: MessageProperties = {
    contentType: properties.contentType ?? '',
    contentEncoding: properties.contentEncoding ?? '',
    headers,
    persistent: properties.deliveryMode === 2,
  };
  if (properties.correlationId !== undefined) result.correlationId = String(properties.correlationId);
  if (properties.replyTo !== undefined) result.replyTo = String(properties.replyTo);
  if (properties.priority !== undefined) result.priority = Number(properties.priority);
  if (properties.expiration !== undefined) result.expiration = String(properties.expiration);
  if (properties.messageId !== undefined) result.messageId = String(properties.messageId);
  return result;
}
