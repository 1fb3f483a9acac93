/**
 * The app the celeriac bench processes load (and, through celeriac-idle-app.ts, the CLI worker
 * of celeriac-idle): one no-op task on a queue unique to the run.
 * The task does no work, so what is measured is celeriac's own cost per task: encode, publish
 * with confirm, consume, decode, run, store the result, ack, deliver the result to the caller.
 */
import { createApp } from '../../lib/index.js';
import type { DeliveryMode } from '../../lib/canvas/call-options.js';
import type { WaitForReplicasOption } from '../../lib/backends/result-backend-options.js';

export const NOOP_TASK = 'bench.noop';
export const SUM_TASK = 'bench.sum';
/** Header size of the chord run before 'go' in chord scenarios (the worker counts its tasks too). */
export const WARM_CHORD_SIZE = 10;

export interface CeleriacBenchConfig {
  amqpUrl: string;
  /** Result backend URL (redis://... by default). */
  backendUrl: string;
  /** Unique per scenario run; also the name celeriac declares its exchange under. */
  queue: string;
  n: number;
  /** Tasks sent before 'go' to open every connection and subscription; not measured. */
  warmup: number;
  /** The app's maxUnconfirmedPublishes (--max-unconfirmed-publishes); null: no limit. */
  maxUnconfirmedPublishes: number | null;
  /** The app's taskDeliveryMode (--task-delivery-mode). */
  taskDeliveryMode: DeliveryMode;
  /** The task queue's type (default classic). */
  queueType?: 'classic' | 'quorum';
  /** The app's resultBackendWaitForReplicas (the Sentinel scenarios); absent: none. */
  waitForReplicas?: WaitForReplicasOption;
}

export function createBenchApp(
  config: Pick<CeleriacBenchConfig, 'amqpUrl' | 'backendUrl' | 'queue'> &
    Partial<Pick<CeleriacBenchConfig, 'maxUnconfirmedPublishes' | 'taskDeliveryMode' | 'queueType' | 'waitForReplicas'>>,
) {
  const app = createApp({
    name: 'bench',
    broker: config.amqpUrl,
    backend: config.backendUrl,
    defaultQueue: config.queue,
    maxUnconfirmedPublishes: config.maxUnconfirmedPublishes ?? null,
    taskDeliveryMode: config.taskDeliveryMode ?? 'persistent',
    ...(config.queueType ? { queues: { [config.queue]: { type: config.queueType } } } : {}),
    resultBackendWaitForReplicas: config.waitForReplicas ?? null,
  });
  const noop = app.task(NOOP_TASK, (i: number) => i);
  /** A chord body: the sum of the header's results. */
  const sum = app.task(SUM_TASK, (values: number[]) => values.reduce((total, value) => total + value, 0));
  return { app, noop, sum };
}
