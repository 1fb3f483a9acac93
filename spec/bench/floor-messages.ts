/**
 * What the Redis floors (raw-redis-floor.ts) send and store, written by hand as a careful
 * engineer would, and checked against celeriac's own builders so they cannot drift from what
 * celeriac sends and stores for the same task:
 *
 * - the Celery task message of floor-redis-celery: the AMQP properties, headers and body
 *   celeriac's producer sends for `bench.noop(i)` (one sample is built with celeriac's
 *   Producer.build, encodeTaskMessage and toPublishOptions; every message is that sample with
 *   the per-task fields replaced, and `celeryMessages` throws if the result differs from what
 *   celeriac builds for other tasks);
 * - the bare message of floor-redis-bare: the same body, the task id as correlation id, no
 *   headers and no other properties;
 * - the stored result: the JSON celeriac's Redis backend writes for a SUCCESS (encodeMeta),
 *   under `celery-task-meta-<id>` (`resultJson` is checked the same way).
 *
 * Task ids share a prefix per run, so one pattern subscription hears exactly the run's results.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';
import { encodeMeta } from '../../lib/backends/celery-meta.js';
import { toPublishOptions } from '../../lib/broker/amqp/properties.js';
import { encodeTaskMessage } from '../../lib/protocol/task-message.js';
import { successMeta } from '../../lib/worker/outcome.js';
import type { App } from '../../lib/index.js';
import { NOOP_TASK } from './celeriac-app.js';
import type { FloorMessage } from './pipelined-publish.js';

/** Celery's Redis result key (and PUBLISH channel) prefix. */
export const RESULT_KEY_PREFIX = 'celery-task-meta-';
/** celeriac's default result expiry (resultExpires '1d'), as SETEX seconds. */
export const RESULT_TTL_SECONDS = 86_400;

/** Makes task ids for one run: UUID-shaped, their first group shared (see `pattern`). */
export function runTaskIds(): { next: () => string; pattern: string } {
  const prefix = randomBytes(4).toString('hex');
  return { next: () => `${prefix}${randomUUID().slice(8)}`, pattern: `${RESULT_KEY_PREFIX}${prefix}-*` };
}

/** The body celeriac sends for `noop(i)`: [args, kwargs, embed]. */
function body(i: number): Buffer {
  return Buffer.from(JSON.stringify([[i], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]));
}

/** floor-redis-bare: the body alone, the task id in correlation_id; persistent, mandatory. */
export function bareMessage(i: number, id: string): FloorMessage {
  return { id, body: body(i), options: { persistent: true, mandatory: true, correlationId: id } };
}

/** The message celeriac's producer sends for `noop.delay(i)` under `id`, built by celeriac itself. */
function celeriacMessage(app: App, i: number, id: string): FloorMessage {
  const taskOptions = app.tasks.get(NOOP_TASK)?.options ?? {};
  const message = app.producer.build(NOOP_TASK, [i], {}, {}, taskOptions, {}, undefined, id);
  const outgoing = encodeTaskMessage(message, taskOptions.serializer ?? app.config.serializer);
  return { id, body: outgoing.body, options: toPublishOptions(outgoing, true, null) };
}

/**
 * floor-redis-celery's message maker for this process: celeriac's message for one sample task,
 * with id, root_id, correlation_id, message_id, argsrepr and the body's args replaced. Throws
 * when that is not exactly what celeriac builds (its builder changed what varies per task).
 */
export function celeryMessages(app: App): (i: number, id: string) => FloorMessage {
  const sample = celeriacMessage(app, 0, randomUUID());
  const { headers, ...properties } = sample.options as Options.Publish & { headers: Record<string, unknown> };
  const make = (i: number, id: string): FloorMessage => ({
    id,
    body: body(i),
    options: { ...properties, correlationId: id, messageId: id, headers: { ...headers, id, root_id: id, argsrepr: `[${i}]` } },
  });
  for (const i of [1, 12_345]) {
    const id = randomUUID();
    try {
      deepStrictEqual(make(i, id), celeriacMessage(app, i, id));
    } catch (error) {
      throw new Error(`floor-redis-celery's message no longer matches celeriac's: ${(error as Error).message}`);
    }
  }
  return make;
}

/** The value celeriac's Redis backend stores (and publishes) for a SUCCESS of `result`. */
export function resultJson(id: string, result: unknown, dateDone = `${new Date().toISOString().slice(0, 23)}000`): string {
  return JSON.stringify({ status: 'SUCCESS', result, traceback: null, children: [], date_done: dateDone, task_id: id });
}

/** Throws when `resultJson` no longer writes what celeriac's backend does (key order included). */
export function checkResultJson(): void {
  const id = randomUUID();
  const meta = successMeta({ id, parent_id: null, group: null } as Parameters<typeof successMeta>[0], 42);
  const expected = encodeMeta(meta);
  const actual = resultJson(id, 42, meta.date_done ?? '');
  if (actual !== expected) throw new Error(`the floor's result JSON no longer matches celeriac's:\n  ${actual}\n  ${expected}`);
}
