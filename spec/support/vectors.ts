import { readFileSync } from 'node:fs';
import type { MessageProperties } from '../../lib/broker/transport.js';

/** Messages and Redis values captured from Python Celery 5.2.6 (read-only golden data). */
const VECTORS_DIR = new URL('../../../spec/fixtures/', import.meta.url);

export interface CapturedMessage {
  exchange: string;
  routing_key: string;
  properties: {
    content_type: string;
    content_encoding: string;
    delivery_mode: number;
    priority: number;
    correlation_id: string;
    reply_to: string;
    expiration?: string;
  };
  headers: Record<string, unknown>;
  body_base64: string;
  body_json: unknown;
}

export interface CapturedCase {
  messages: CapturedMessage[];
  result_ids: { id: string; parent: string | null };
}

export function messageVectors(): Record<string, CapturedCase> {
  const file = JSON.parse(readFileSync(new URL('celery-5.2.6-messages.json', VECTORS_DIR), 'utf8')) as {
    cases: Record<string, CapturedCase>;
  };
  return file.cases;
}

export function redisVectors(): Record<string, { key: string; value: Record<string, unknown> }> {
  const file = JSON.parse(readFileSync(new URL('celery-5.2.6-redis-results.json', VECTORS_DIR), 'utf8')) as {
    entries: Record<string, { key: string; value: Record<string, unknown> }>;
  };
  return file.entries;
}

/** The captured AMQP properties as the Transport interface presents them. */
export function propertiesOf(message: CapturedMessage): MessageProperties {
  const p = message.properties;
  return {
    contentType: p.content_type,
    contentEncoding: p.content_encoding,
    headers: message.headers,
    correlationId: p.correlation_id,
    replyTo: p.reply_to,
    priority: p.priority,
    ...(p.expiration ? { expiration: p.expiration } : {}),
  };
}
