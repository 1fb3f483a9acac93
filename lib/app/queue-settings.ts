import { ConfigError } from '../errors/errors.js';
import type { QueueType } from '../broker/transport.js';
import { keyList } from '../util/key-list.js';

/**
 * The per-queue settings of createApp's `queues` option and the app's default queue type,
 * checked once when the app is configured: a quorum queue never has a priority, a delivery limit
 * needs a quorum queue, and every error names the option it is about.
 */

export interface QueueSettings {
  /**
   * Highest priority this queue orders by (a priority queue); null for none. Default: the app's `queueMaxPriority`.
   * A quorum queue has no priorities: setting one (here or through `queueMaxPriority`) is a ConfigError.
   */
  maxPriority?: number | null;
  /**
   * 'classic' or 'quorum' (replicated, always durable, no priorities; the broker counts each
   * message's deliveries, and the worker's poison-message limit then uses that count). Default:
   * the app's `defaultQueueType`. See docs/routing.md.
   */
  type?: QueueType;
  /**
   * Quorum queues only (by `type` or the app's `defaultQueueType`): the broker's own cap on returned deliveries; past it
   * the broker dead-letters the message to `<queue>.dead-letter`. Default none.
   */
  deliveryLimit?: number;
}

const QUEUE_SETTING_KEYS: readonly string[] = keyList<QueueSettings>({ maxPriority: true, type: true, deliveryLimit: true });

export function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

export function maxPriority(option: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 255) return value;
  throw new ConfigError(option, `expected an integer 1..255 or null, got ${JSON.stringify(value)}`);
}

/** The app's default queue type: the option, else $CELERIAC_DEFAULT_QUEUE_TYPE, else 'classic'. */
export function defaultQueueType(option: unknown, fromEnv: string | undefined): QueueType {
  if (option !== undefined) {
    if (option === 'classic' || option === 'quorum') return option;
    throw new ConfigError('defaultQueueType', `expected 'classic' or 'quorum', got ${JSON.stringify(option)}`);
  }
  if (fromEnv === undefined || fromEnv === '') return 'classic';
  if (fromEnv === 'classic' || fromEnv === 'quorum') return fromEnv;
  throw new ConfigError('defaultQueueType', `$CELERIAC_DEFAULT_QUEUE_TYPE: expected classic or quorum, got ${JSON.stringify(fromEnv)}`);
}

export function queueSettings(queues: unknown, appMaxPriority: number | null, defaultType: QueueType): Record<string, QueueSettings> {
  if (typeof queues !== 'object' || queues === null || Array.isArray(queues))
    throw new ConfigError('queues', 'expected a map of queue name to settings');
  const result: Record<string, QueueSettings> = {};
  for (const [name, settings] of Object.entries(queues as Record<string, unknown>)) {
    if (typeof settings !== 'object' || settings === null)
      throw new ConfigError(`queues.${name}`, 'expected { maxPriority, type, deliveryLimit }');
    for (const key of Object.keys(settings)) {
      if (!QUEUE_SETTING_KEYS.includes(key))
        throw new ConfigError(`queues.${name}.${key}`, `unknown queue setting; known: ${QUEUE_SETTING_KEYS.join(', ')}`);
    }
    const given = settings as QueueSettings;
    const checked: QueueSettings = {};
    if (given.maxPriority !== undefined) checked.maxPriority = maxPriority(`queues.${name}.maxPriority`, given.maxPriority);
    if (given.type !== undefined) {
      if (given.type !== 'classic' && given.type !== 'quorum')
        throw new ConfigError(`queues.${name}.type`, `expected 'classic' or 'quorum', got ${JSON.stringify(given.type)}`);
      checked.type = given.type;
    }
    const type = checked.type ?? defaultType;
    const typeFrom = checked.type !== undefined ? '' : " (defaultQueueType 'quorum'; give it type: 'classic' to exempt it)";
    if (given.deliveryLimit !== undefined) {
      if (type !== 'quorum') throw new ConfigError(`queues.${name}.deliveryLimit`, `queue ${name}: deliveryLimit needs type: 'quorum'`);
      if (!isNonNegativeInteger(given.deliveryLimit))
        throw new ConfigError(
          `queues.${name}.deliveryLimit`,
          `expected a non-negative integer, got ${JSON.stringify(given.deliveryLimit)}`,
        );
      checked.deliveryLimit = given.deliveryLimit;
    }
    if (type === 'quorum') {
      const priority = checked.maxPriority !== undefined ? checked.maxPriority : appMaxPriority;
      if (priority !== null) {
        const from =
          checked.maxPriority !== undefined
            ? `maxPriority ${priority}`
            : `queueMaxPriority ${priority} (set queues.${name}.maxPriority to null to exempt it)`;
        throw new ConfigError(
          `queues.${name}.maxPriority`,
          `queue ${name} is a quorum queue${typeFrom}, and quorum queues have no priorities: ${from}`,
        );
      }
    }
    result[name] = checked;
  }
  return result;
}
