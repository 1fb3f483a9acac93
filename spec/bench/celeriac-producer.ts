/**
 * celeriac producer process for the bench (forked by celeriac-roundtrip.ts).
 *
 * Before 'go' it runs `warmup` tasks to completion, so connections, the queue declaration and
 * the result subscription exist before timing starts (the floor connects before 'go' too); in
 * 'publish' mode, where no worker runs, it only publishes them (confirmed), as the floor does;
 * in 'latency' mode it runs them one at a time, as it then measures (the floor does the same).
 *
 * mode 'roundtrip': fires N `delay(i)` calls without awaiting any of them, then awaits every
 *   `get()`; finishes at the last result. Latency per task = delay() call → get() resolved.
 * mode 'fire-and-forget': fires N `applyAsync([i], {}, { ignoreResult: true })` and finishes
 *   when all are confirmed; the runner times the scenario to the worker's last ack.
 * mode 'publish': the same with no worker running (the messages stay in the queue); the
 *   scenario is timed to the last confirm, like floor-publish.
 * mode 'latency': one `delay(i).get()` at a time, N times: the round trip at low load (get()
 *   settles with the result, confirmed or not; floor-latency's samples end at its reply too);
 *   like the floor, it starts the next round once the send's confirm came as well.
 * mode 'countdown': N `applyAsync([i], {}, { countdown, ignoreResult: true })` with countdowns
 *   spread evenly over `windowMs`; finishes when all are confirmed (the worker times the starts).
 * mode 'chord': first `group(noop.s(0) … noop.s(N-1))` to its last result (the header's own
 *   processing), then `chord(the same header, sum.s())` to the body's result; reports both wall
 *   times. A small chord runs before 'go', so the chord path is warm too.
 */
import { deleteResults } from './stored-results.js';
import { chord, group } from '../../lib/index.js';
import { startChild } from './child-runtime.js';
import { createBenchApp, WARM_CHORD_SIZE, type CeleriacBenchConfig } from './celeriac-app.js';
import { now } from './ipc.js';
import { LONGEST_RESULT_GAP, summarizeLatency } from './measure.js';
import type { GroupResult } from '../../lib/result/group-result.js';

export interface CeleriacProducerConfig extends CeleriacBenchConfig {
  mode: 'roundtrip' | 'fire-and-forget' | 'publish' | 'latency' | 'chord' | 'countdown';
  /** countdown mode: countdowns spread evenly over this many ms. */
  windowMs?: number;
  /** Per-result get() timeout, ms. */
  resultTimeoutMs: number;
}

/**
 * countdown mode: unconfirmed publishes at most. A delay starts counting when its message
 * reaches a tier queue; thousands of publishes in flight wait in the broker's inbound buffers
 * first (measured: 2,000 in flight made tasks start ~0.2 s late, 200 about 0.03 s). Publishes
 * still waiting in the producer cost nothing: their delay is computed when they are written.
 */
const COUNTDOWN_IN_FLIGHT = 200;
/**
 * fire-and-forget and publish modes: unconfirmed sends at most. The default N (20,000) are all
 * in flight at once, like the floor's; a 1,000,000-task run keeps this many, as a bulk
 * producer should, instead of holding a million pending sends in memory.
 */
const BULK_IN_FLIGHT = 20_000;

const child = startChild<CeleriacProducerConfig>();

child.run(async () => {
  const config = child.config;
  const { n, mode, resultTimeoutMs } = config;
  const { app, noop, sum } = createBenchApp(config);
  const taskIds: string[] = [];

  if (mode === 'publish') {
    // ignoreResult: no result subscription, nothing stored.
    await Promise.all(Array.from({ length: config.warmup }, (_, i) => noop.applyAsync([-1 - i], {}, { ignoreResult: true })));
  } else if (mode === 'latency') {
    // The one-at-a-time path itself (see LATENCY_WARMUP).
    for (let i = 0; i < config.warmup; i++) {
      const sent = noop.delay(-1 - i);
      taskIds.push(sent.id);
      await sent.get({ timeout: resultTimeoutMs });
    }
  } else {
    const warmup = await Promise.all(Array.from({ length: config.warmup }, (_, i) => noop.delay(-1 - i)));
    for (const result of warmup) taskIds.push(result.id);
    await Promise.all(warmup.map((result) => result.get({ timeout: resultTimeoutMs })));
  }

  if (mode === 'chord') {
    const warm = await chord(
      Array.from({ length: WARM_CHORD_SIZE }, (_, i) => noop.s(i)),
      sum.s(),
    ).applyAsync();
    await warm.get({ timeout: resultTimeoutMs });
  }

  await child.ready();
  const startedAt = now();
  let confirmed = 0;
  let completed = 0;
  let phase = '';
  const progress = setInterval(() => child.progress(phase || `confirmed ${confirmed}/${n}, results ${completed}`), 1000);

  if (mode === 'roundtrip') {
    const sentAt = new Float64Array(n);
    const latency = new Float64Array(n);
    const pending = Array.from({ length: n }, (_, i) => {
      sentAt[i] = now();
      return noop
        .delay(i)
        .then((result) => {
          confirmed++;
          taskIds.push(result.id);
          return result.get({ timeout: resultTimeoutMs });
        })
        .then((value) => {
          latency[i] = now() - sentAt[i];
          completed++;
          if (value !== i) throw new Error(`task ${i} returned ${JSON.stringify(value)}`);
        });
    });
    await Promise.all(pending);
    const finishedAt = now();
    clearInterval(progress);
    const resultsAt = Float64Array.from(latency, (ms, i) => sentAt[i] + ms).sort();
    let longestGap = 0;
    for (let i = 1; i < n; i++) longestGap = Math.max(longestGap, resultsAt[i] - resultsAt[i - 1]);
    child.finished({ startedAt, finishedAt, count: n, latency: summarizeLatency(latency), extra: { [LONGEST_RESULT_GAP]: longestGap } });
  } else if (mode === 'latency') {
    const latency = new Float64Array(n);
    for (let i = 0; i < n; i++, completed++) {
      const sentAt = now();
      // get() on the send itself: the broker's confirm and the run overlap, as the floor's
      // confirm and reply do. The sample ends with the result; the next round starts once the
      // confirm came too, as the floor's does (publish, confirm and reply, next).
      const sent = noop.delay(i);
      taskIds.push(sent.id);
      const value = await sent.get({ timeout: resultTimeoutMs });
      latency[i] = now() - sentAt;
      if (value !== i) throw new Error(`task ${i} returned ${JSON.stringify(value)}`);
      await sent;
      confirmed++;
    }
    const finishedAt = now();
    clearInterval(progress);
    child.finished({ startedAt, finishedAt, count: n, latency: summarizeLatency(latency) });
  } else if (mode === 'chord') {
    const header = () => Array.from({ length: n }, (_, i) => noop.s(i));
    phase = `group of ${n} sent, waiting for its results`;
    const groupResult = await group(header()).applyAsync();
    const values = await groupResult.get({ timeout: resultTimeoutMs });
    const groupFinishedAt = now();
    if (values.length !== n || values.some((value, i) => value !== i)) throw new Error('the group returned wrong results');
    child.progress(`group of ${n}: ${Math.round(groupFinishedAt - startedAt)} ms`);
    phase = `chord of ${n} sent, waiting for the body`;
    const chordResult = await chord(header(), sum.s()).applyAsync();
    const total = await chordResult.get({ timeout: resultTimeoutMs });
    const finishedAt = now();
    clearInterval(progress);
    if (total !== (n * (n - 1)) / 2) throw new Error(`the chord body returned ${JSON.stringify(total)}`);
    for (const member of [...groupResult.results, ...(chordResult.parent as GroupResult).results, chordResult]) taskIds.push(member.id);
    child.finished({
      startedAt: groupFinishedAt,
      finishedAt,
      count: n,
      extra: { groupSeconds: (groupFinishedAt - startedAt) / 1000, chordSeconds: (finishedAt - groupFinishedAt) / 1000 },
    });
  } else {
    const pending: Promise<unknown>[] = [];
    const windowMs = config.mode === 'countdown' ? (config.windowMs ?? 3_600_000) : 0;
    for (let i = 0; i < n; i++) {
      const options = windowMs > 0 ? { ignoreResult: true, countdown: Math.round(((i + 1) * windowMs) / n) } : { ignoreResult: true };
      pending.push(noop.applyAsync([i], {}, options).then(() => confirmed++));
      // A bounded number of unconfirmed sends, as a bulk producer should (see the constants).
      const inFlight = windowMs > 0 ? COUNTDOWN_IN_FLIGHT : BULK_IN_FLIGHT;
      if (i >= inFlight) await pending[i - inFlight];
    }
    await Promise.all(pending);
    const finishedAt = now();
    clearInterval(progress);
    child.finished({ startedAt, finishedAt, count: n });
  }

  await child.stopped();
  await app.close();
  await deleteResults(config.backendUrl, taskIds);
  child.exit();
});
