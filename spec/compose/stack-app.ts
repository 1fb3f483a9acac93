import { appendFileSync, readFileSync } from 'node:fs';
import { createApp, type TaskContext } from '../../lib/index.js';

/**
 * The task module the compose spec (stack.compose.ts) runs in the stack's worker and beat
 * containers (CELERIAC_APP=/app/dist/spec/compose/stack-app.js; docker/compose.test.yml mounts
 * dist/spec). Broker and backend come from the compose environment, as for any app; the
 * execution ledger is COMPOSE_SPEC_LEDGER, a file in a folder shared with the spec.
 * Its beat schedule sends `compose.tick` every second.
 */
export const app = createApp({
  name: 'compose-spec',
  brokerConnectionMaxRetries: null,
  brokerConnectionMaxDelay: '2s',
  beatSchedule: { tick: { task: 'compose.tick', every: '1s' } },
});

/** The id of the container this process runs in (Docker bind-mounts its /etc/hostname from the container's folder). */
export function containerId(): string {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  return /\/containers\/([0-9a-f]{64})\//.exec(mounts)?.[1] ?? 'none';
}
const CONTAINER = containerId();

/**
 * One line of the ledger: a run of `rel.work` whose code finished
 * (spec/support/reliability-app.ts's ExecutionRecord, plus the container).
 */
function record(context: TaskContext, n: number, started: number): void {
  const ledger = process.env.COMPOSE_SPEC_LEDGER;
  if (!ledger) return;
  const entry = { n, id: context.id, pid: process.pid, container: CONTAINER, redelivered: context.redelivered, started, at: Date.now() };
  appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
}

/** The loss checker's workload (the Workload of spec/support/loss-checker.ts sends it): sleeps `ms`, records its run, returns n. */
export const work = app.task('rel.work', async function (this: TaskContext, n: number, ms: number) {
  const started = Date.now();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  record(this, n, started);
  return n;
});

/** Returns the id of the container that ran it, after `ms`. */
export const where = app.task('compose.where', async (ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return CONTAINER;
});

/**
 * Ends the worker process that runs it the first time (the container's restart policy brings it back);
 * a redelivery returns the container id.
 */
export const crash = app.task('compose.crash', function (this: TaskContext) {
  if (!this.redelivered) process.exit(3);
  return CONTAINER;
});

/** What beat sends every second. */
export const tick = app.task('compose.tick', () => CONTAINER);

export default app;
