import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../../lib/index.js';

/**
 * The app of the detach, multi and systemd specs: its default queue is $MULTI_SPEC_QUEUE and its
 * name (beat's lock namespace) $MULTI_SPEC_NAME, so concurrent runs never meet. Broker and
 * backend come from CELERIAC_BROKER_URL / CELERIAC_RESULT_BACKEND.
 */
export const app = createApp({
  name: process.env.MULTI_SPEC_NAME ?? 'multi-spec',
  defaultQueue: process.env.MULTI_SPEC_QUEUE ?? 'multi-spec',
  brokerConnectionMaxRetries: 3,
  beatSchedule: { tick: { task: 'spec.multi.add', every: '1s', args: [1, 1] } },
});

app.task('spec.multi.add', (x: number, y: number) => x + y);

/**
 * Writes `started` (so a spec knows it runs), then waits until the file `gate` exists: a task
 * that is running for as long as the spec wants. Returns the worker's pid.
 */
app.task('spec.multi.hold', async (started: string, gate: string) => {
  writeFileSync(started, String(process.pid));
  while (!existsSync(gate)) await sleep(50);
  return process.pid;
});

export default app;
