/**
 * Producer process of scale-inflight-heap (scale.ts): what one `delay()` in flight costs the
 * producer's V8 heap. No worker runs, so no result ever comes.
 *
 * Before 'go': WARMUP sends with `get()` started on each (the connection, the queue declaration,
 * the result subscription and the hot paths exist), all confirmed. Then a forced collection and
 * the baseline reading; then N `delay(i)` with `get()` started on each, in one synchronous loop,
 * and two more readings, each after a forced collection:
 *
 * - 'unconfirmed': right after the loop, in the same turn of the event loop: every send is
 *   still unconfirmed (the publisher's record and the encoded message are held) and every get()
 *   waits;
 * - 'confirmed': once the broker confirmed all N: what a send whose result is awaited holds
 *   until its result comes.
 *
 * Reports (reading − baseline) / N for the V8 heap (`heapUsed`) and, apart, for memory outside
 * it (`external`: Buffers, such as the encoded messages). The collection is V8's own (the
 * `--expose-gc` flag, set at run time so the runner's fork options stay as they are).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startChild } from './child-runtime.js';
import { now } from './ipc.js';
import { createScaleApp } from './scale-app.js';

export interface ScaleHeapConfig {
  amqpUrl: string;
  backendUrl: string;
  queue: string;
  n: number;
}

const WARMUP = 100;

setFlagsFromString('--expose-gc');
/** V8's full collection: a fresh context exposes `gc` once the flag is set. */
const collect = runInNewContext('gc') as () => void;

const child = startChild<ScaleHeapConfig>();

interface Reading {
  heapUsed: number;
  external: number;
}

function settledReading(): Reading {
  // Twice: objects whose finalization the first collection queued are freed by the second.
  collect();
  collect();
  const { heapUsed, external } = process.memoryUsage();
  return { heapUsed, external };
}

child.run(async () => {
  const { n } = child.config;
  const { app, noop } = createScaleApp(child.config);
  // Every get(), as a caller holds it; none settles while the app is open (no worker runs).
  const waits: Array<Promise<unknown>> = [];
  const wait = (sent: ReturnType<typeof noop.delay>): void => {
    waits.push(sent.get());
  };

  const warm = Array.from({ length: WARMUP }, (_, i) => noop.delay(-1 - i));
  warm.forEach(wait);
  await Promise.all(warm);
  await child.ready();
  const startedAt = now();

  const baseline = settledReading();
  const sends: Array<ReturnType<typeof noop.delay>> = [];
  for (let i = 0; i < n; i++) {
    sends.push(noop.delay(i));
    wait(sends[i]);
  }
  const unconfirmed = settledReading();
  await Promise.all(sends);
  const confirmed = settledReading();
  const finishedAt = now();

  const perSend = (reading: Reading, field: keyof Reading): number => Math.round((reading[field] - baseline[field]) / n);
  child.finished({
    startedAt,
    finishedAt,
    count: n,
    extra: {
      unconfirmedHeapBytes: perSend(unconfirmed, 'heapUsed'),
      unconfirmedExternalBytes: perSend(unconfirmed, 'external'),
      confirmedHeapBytes: perSend(confirmed, 'heapUsed'),
      confirmedExternalBytes: perSend(confirmed, 'external'),
    },
  });

  await child.stopped();
  // The sends are in the queue, which the runner deletes. Whatever the waits do as the app
  // closes is handled here (allSettled attaches a handler to each at once).
  void Promise.allSettled(waits);
  await app.close();
  child.exit();
});
