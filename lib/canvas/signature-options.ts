import type { CallOptions } from './call-options.js';
import { toMilliseconds } from '../util/duration.js';

/**
 * CallOptions (camelCase, ms) ⇄ the `options` dict of a Celery signature (snake_case,
 * seconds, ISO dates), so that signatures built here read correctly in Python and back.
 * Keys that are not call options (e.g. Celery's `reply_to`, `link`) are kept as they are.
 */
export function callOptionsToCelery(options: CallOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    switch (key) {
      case 'routingKey':
        out.routing_key = value;
        break;
      case 'taskId':
        out.task_id = value;
        break;
      case 'ignoreResult':
        out.ignore_result = value;
        break;
      case 'deliveryMode':
        out.delivery_mode = value;
        break;
      case 'countdown':
        out.countdown = toMilliseconds(value as number | string, 'countdown') / 1000;
        break;
      case 'eta':
        out.eta = (value as Date).toISOString();
        break;
      case 'expires':
        out.expires = value instanceof Date ? value.toISOString() : toMilliseconds(value as number | string, 'expires') / 1000;
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}

export function celeryOptionsToCall(options: Record<string, unknown>): CallOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'routing_key':
        out.routingKey = value;
        break;
      case 'task_id':
        out.taskId = value;
        break;
      case 'ignore_result':
        out.ignoreResult = value;
        break;
      case 'delivery_mode':
        // kombu's names, or AMQP's numbers (1 transient, 2 persistent); anything else is not a
        // delivery mode RabbitMQ knows, and the task goes as the app's default.
        if (value === 1 || value === 'transient') out.deliveryMode = 'transient';
        else if (value === 2 || value === 'persistent') out.deliveryMode = 'persistent';
        break;
      case 'countdown':
        if (typeof value === 'number') out.countdown = value * 1000;
        break;
      case 'eta':
        // A string as Celery 5.2 sends it, or a Date (the JSON decoder's form of kombu's typed datetime).
        if (typeof value === 'string' || value instanceof Date) out.eta = new Date(value);
        break;
      case 'expires':
        if (typeof value === 'number') out.expires = value * 1000;
        else if (typeof value === 'string' || value instanceof Date) out.expires = new Date(value);
        break;
      case 'queue':
      case 'exchange':
      case 'priority':
      case 'serializer':
        out[key] = value;
        break;
      default:
      // Celery-only options (reply_to, link, chord, ...) have no call-option equivalent.
    }
  }
  return out;
}
