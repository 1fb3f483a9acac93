import type { Options, MessageProperties as AmqpProperties } from 'amqplib';
import type { MessageProperties, OutgoingMessage } from '../transport.js';

/**
 * Stamped on a publish that has no messageId, so that a basic.return can be matched to its
 * publish while many are in flight. Consumers strip it: callers never see it.
 */
export const PUBLISH_SEQ_HEADER = 'x-celeriac-publish-seq';

/** The key a basic.return is matched by: the messageId, else the publish sequence header. */
export function returnKeyOf(messageId: unknown, headers: Record<string, unknown> | undefined): string {
  if (typeof messageId === 'string' && messageId !== '') return `id:${messageId}`;
  return `seq:${String(headers?.[PUBLISH_SEQ_HEADER])}`;
}

/** amqplib publish options for a message; `seq` is stamped only when there is no messageId. */
export function toPublishOptions(message: OutgoingMessage, mandatory: boolean, seq: number): Options.Publish {
  const headers = message.messageId ? message.headers : { ...message.headers, [PUBLISH_SEQ_HEADER]: seq };
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
    headers = { ...headers };
    delete headers[PUBLISH_SEQ_HEADER];
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
