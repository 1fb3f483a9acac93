/**
 * The producer's heap per in-flight `delay()`: N sends with no worker running, each with its
 * `get()` started at once (as `await add.delay(2, 2).get()` does), held until measured:
 *
 *   npm run build --silent && node --expose-gc dist/spec/bench/delay-heap.js [--n 20000]
 *
 * Heap used after a forced collection, minus the same before the sends, divided by N, at two
 * moments: right after the N calls (every send unconfirmed: the publisher holds its message for
 * a re-publish after a fail-over), and once the broker confirmed them all (what a waiting
 * `get()` holds until its result comes). The queue is unique to the run and deleted after it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { createApp } from '../../lib/index.js';
import { deleteQueues } from './broker-admin.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    'amqp-url': { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    backend: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    /** Also write heap snapshots (before, unconfirmed, confirmed) into this directory. */
    snapshots: { type: 'string' },
  },
});
const n = Number(values.n);
const amqpUrl = values['amqp-url'];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heapAfterGc(label: string): number {
  for (let i = 0; i < 3; i++) gc!();
  const used = process.memoryUsage().heapUsed;
  if (values.snapshots) writeHeapSnapshot(join(values.snapshots, `${label}.heapsnapshot`));
  return used;
}

const queue = `bench.delay-heap.${randomBytes(4).toString('hex')}`;
const app = createApp({ broker: amqpUrl, backend: values.backend, defaultQueue: queue });
const noop = app.task('bench.noop', (i: number) => i);
try {
  // Connections, the queue's declaration and the result subscription exist before measuring.
  const warm = noop.delay(-1);
  void warm.get().catch(() => undefined);
  await warm;
  // Failed waits are counted by one process-wide handler: a handler per wait would be memory
  // of this script's, counted in the figure.
  const failures = new Map<string, number>();
  process.on('unhandledRejection', (error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    failures.set(reason, (failures.get(reason) ?? 0) + 1);
  });
  const before = heapAfterGc('before');
  const sent = Array.from({ length: n }, (_, i) => noop.delay(i));
  const waits = sent.map((send) => send.get());
  const unconfirmed = heapAfterGc('unconfirmed');
  await Promise.all(sent);
  // Each wait reads its key once subscribed and confirmed: a read sent after all of them (one
  // connection answers in order) settles after theirs, leaving the waits in their steady state.
  await app.asyncResult('bench-delay-heap-drain').state;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const confirmed = heapAfterGc('confirmed');
  const perSend = (bytes: number) => `${Math.round((bytes - before) / n)} bytes`;
  console.log(`n=${n}: per delay() with its get() waiting`);
  console.log(`  unconfirmed: ${perSend(unconfirmed)}`);
  console.log(`  confirmed, result not back: ${perSend(confirmed)}`);
  // A wait that failed holds nothing: the figure would then be meaningless.
  for (const [reason, count] of failures) console.log(`  ${count} get() failed: ${reason}`);
  if (sent.length + waits.length === 0) console.log('(kept alive until here)');
} finally {
  await app.close();
  await deleteQueues(amqpUrl, [queue]);
}
