/** AMQP 0-9-1 short strings (exchange names, routing keys) hold at most 255 bytes. */
export const MAX_ROUTE_NAME_BYTES = 255;

/**
 * Why a publish to `exchange` with `routingKey` cannot be written, or null. Every transport
 * refuses such a publish alone, before it reaches a channel, with this reason (amqplib would
 * refuse to encode it too, with a less telling error; memory:// must refuse what RabbitMQ
 * would). Routes can come from incoming messages (a reply_to), so this is input checking.
 */
export function routeNameProblem(exchange: string, routingKey: string): string | null {
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') return 'exchange and routing key must be strings';
  if (Buffer.byteLength(exchange) > MAX_ROUTE_NAME_BYTES) return `exchange name longer than ${MAX_ROUTE_NAME_BYTES} bytes`;
  if (Buffer.byteLength(routingKey) > MAX_ROUTE_NAME_BYTES) return `routing key longer than ${MAX_ROUTE_NAME_BYTES} bytes`;
  return null;
}
