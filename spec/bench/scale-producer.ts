/**
 * Producer process of the scale scenarios (scale.ts).
 *
 * mode 'canvas' (scale-chord-100k, scale-group-100k): warm-up, then two timed phases, one after
 *   the other: N `delay(i)` fired at once and every `get()` (the tasks alone), then a chord of
 *   the same N no-ops with a summing body to the body's result, or a group of them to its last
 *   result. Reports both wall times. The results of the first phase are deleted (not timed)
 *   before the second starts, so the producer holds no leftovers of it but its heap.
 * mode 'backlog' (scale-backlog-1m): N `applyAsync([i], {}, { ignoreResult: true })` with no
 *   worker running, at most BULK_IN_FLIGHT unconfirmed; finishes at the last confirm.
 * mode 'big-args' (scale-1mb-args): N `bytes.delay(payload)` with a payload of `payloadBytes`
 *   ASCII characters, at most `window` of them sent and not yet answered: the broker never
 *   holds more than `window` such messages. Finishes at the last result.
 */
import { deleteResults } from './stored-results.js';
import { chord, group } from '../../lib/index.js';
import type { GroupResult } from '../../lib/result/group-result.js';
import { startChild } from './child-runtime.js';
import { WARM_CHORD_SIZE } from './celeriac-app.js';
import { now } from './ipc.js';
import { createScaleApp } from './scale-app.js';

export interface ScaleProducerConfig {
  amqpUrl: string;
  backendUrl: string;
  queue: string;
  mode: 'canvas' | 'backlog' | 'big-args';
  n: number;
  /** canvas mode: what follows the tasks sent alone. */
  canvas?: 'chord' | 'group';
  /** big-args mode: characters per payload, and tasks sent and not yet answered at most. */
  payloadBytes?: number;
  window?: number;
  /** Per-result get() timeout, ms. */
  resultTimeoutMs: number;
}

/** Warm-up round trips before 'go' (canvas and big-args modes; a worker runs them). */
const WARMUP_TASKS = 100;
/** big-args mode: warm-up round trips with the full payload. */
const BIG_WARMUP_TASKS = 10;
/** backlog mode: unconfirmed sends at most (a million pending sends would be the producer's memory, not the backlog). */
const BULK_IN_FLIGHT = 20_000;

const child = startChild<ScaleProducerConfig>();

child.run(async () => {
  const config = child.config;
  const { n, mode, resultTimeoutMs } = config;
  const { app, noop, sum, bytes } = createScaleApp(config);
  const leftovers: string[] = [];
  let phase = 'warm-up';
  const progress = setInterval(() => child.progress(phase), 5000);

  if (mode === 'canvas') {
    const warm = Array.from({ length: WARMUP_TASKS }, (_, i) => noop.delay(-1 - i));
    await Promise.all(warm.map((sent) => sent.get({ timeout: resultTimeoutMs })));
    const header = Array.from({ length: WARM_CHORD_SIZE }, (_, i) => noop.s(i));
    const warmCanvas = config.canvas === 'chord' ? await chord(header, sum.s()).applyAsync() : await group(header).applyAsync();
    await warmCanvas.get({ timeout: resultTimeoutMs });
    leftovers.push(...warm.map((sent) => sent.id));
  } else if (mode === 'big-args') {
    const payload = 'x'.repeat(config.payloadBytes ?? 0);
    const warm = Array.from({ length: BIG_WARMUP_TASKS }, () => bytes.delay(payload));
    await Promise.all(warm.map((sent) => sent.get({ timeout: resultTimeoutMs })));
    leftovers.push(...warm.map((sent) => sent.id));
  } else {
    // Opens the connection and declares the queue; the worker drains this one with the rest.
    await noop.applyAsync([-1], {}, { ignoreResult: true });
  }

  await child.ready();
  const startedAt = now();
  if (mode === 'canvas') {
    phase = `${n} tasks alone: sent, waiting for results`;
    const alone = Array.from({ length: n }, (_, i) => noop.delay(i));
    const values = await Promise.all(alone.map((sent) => sent.get({ timeout: resultTimeoutMs })));
    const aloneFinishedAt = now();
    if (values.some((value, i) => value !== i)) throw new Error('a task sent alone returned a wrong result');
    const aloneIds = alone.map((sent) => sent.id);
    alone.length = 0;
    values.length = 0;
    phase = 'deleting the results of the tasks sent alone (not timed)';
    await deleteResults(config.backendUrl, aloneIds);
    aloneIds.length = 0;

    const canvasStartedAt = now();
    const header = Array.from({ length: n }, (_, i) => noop.s(i));
    let members: string[];
    if (config.canvas === 'chord') {
      phase = `chord of ${n} sent, waiting for the body`;
      const sent = await chord(header, sum.s()).applyAsync();
      const total = await sent.get({ timeout: resultTimeoutMs });
      if (total !== (n * (n - 1)) / 2) throw new Error(`the chord body returned ${JSON.stringify(total)}`);
      members = [...(sent.parent as GroupResult).results.map((r) => r.id), sent.id];
    } else {
      phase = `group of ${n} sent, waiting for its results`;
      const sent = await group(header).applyAsync();
      const results = await sent.get({ timeout: resultTimeoutMs });
      if (results.length !== n || results.some((value, i) => value !== i)) throw new Error('the group returned wrong results');
      members = sent.results.map((r) => r.id);
    }
    const finishedAt = now();
    leftovers.push(...members);
    child.finished({
      startedAt,
      finishedAt,
      count: n,
      extra: { aloneSeconds: (aloneFinishedAt - startedAt) / 1000, canvasSeconds: (finishedAt - canvasStartedAt) / 1000 },
    });
  } else if (mode === 'backlog') {
    let confirmed = 0;
    // The sends not known to be confirmed, by i % BULK_IN_FLIGHT: the producer holds no more
    // than that many, whatever n is (a list of all n would grow with the backlog).
    const inFlight: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) {
      const slot = i % BULK_IN_FLIGHT;
      if (i >= BULK_IN_FLIGHT) await inFlight[slot];
      inFlight[slot] = noop.applyAsync([i], {}, { ignoreResult: true }).then(() => confirmed++);
      if (i % 10_000 === 0) phase = `backlog: ${confirmed}/${n} confirmed`;
    }
    await Promise.all(inFlight);
    child.finished({ startedAt, finishedAt: now(), count: n });
  } else {
    const payload = 'x'.repeat(config.payloadBytes ?? 0);
    const window = config.window ?? 1;
    let next = 0;
    let answered = 0;
    // `window` lanes, each sending its next task once its last one was answered.
    const lane = async (): Promise<void> => {
      while (next < n) {
        next++;
        const sent = bytes.delay(payload);
        const length = await sent.get({ timeout: resultTimeoutMs });
        if (length !== payload.length) throw new Error(`a task saw ${JSON.stringify(length)} characters, not ${payload.length}`);
        leftovers.push(sent.id);
        answered++;
        phase = `big args: ${answered}/${n} answered`;
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
    child.finished({ startedAt, finishedAt: now(), count: n });
  }
  clearInterval(progress);

  await child.stopped();
  await app.close();
  await deleteResults(config.backendUrl, leftovers);
  child.exit();
});
