/**
 * Celery-shaped messages for the raw amqplib floor.
 *
 * The floor sends the same AMQP properties, header set and body layout as a Celery protocol v2
 * task message (and a result message shaped like the rpc backend's), so it moves the same bytes
 * through the broker and pays the same amqplib header-table encoding as celeriac must. It skips
 * everything a framework adds on top: registry, routing, result state machine, backends.
 */
import { randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';

export const TASK_NAME = 'bench.noop';

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

export interface TaskMessage {
  id: string;
  body: Buffer;
  options: Options.Publish;
}

export function taskMessage(i: number, replyTo: string | undefined): TaskMessage {
  const id = randomUUID();
  const body = Buffer.from(JSON.stringify([[i], {}, EMBED]));
  return {
    id,
    body,
    options: {
      persistent: true,
      mandatory: true,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      replyTo,
      priority: 0,
      headers: {
        lang: 'js',
        task: TASK_NAME,
        id,
        shadow: null,
        eta: null,
        expires: null,
        group: null,
        group_index: null,
        retries: 0,
        timelimit: [null, null],
        root_id: id,
        parent_id: null,
        argsrepr: `[${i}]`,
        kwargsrepr: '{}',
        origin: `bench@${process.pid}`,
        ignore_result: replyTo === undefined,
      },
    },
  };
}

/** The rpc backend's result message: transient, correlation id = task id. */
export function resultMessage(taskId: string, result: unknown): { body: Buffer; options: Options.Publish } {
  return {
    body: Buffer.from(JSON.stringify({ task_id: taskId, status: 'SUCCESS', result, traceback: null, children: [] })),
    options: {
      persistent: false,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: taskId,
    },
  };
}
