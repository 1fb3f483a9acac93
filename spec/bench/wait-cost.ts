/**
 * CPU per waiting `get()` on the Redis backend, in this process: N waits started at once, each
 * satisfied through the real Redis (its result stored and published by another process), CPU
 * time (user + system) of this process from the first wait started to the last one's
 * UNSUBSCRIBE written, divided by N:
 *
 *   npm run build --silent && node dist/spec/bench/wait-cost.js [--n 10000] [--rounds 7]
 *
 * What a wait costs here: the AsyncResult and its get(), the backend's waiter, its SUBSCRIBE and
 * the read of its key once subscribed (batched), the published result decoded and handed over,
 * the UNSUBSCRIBE (batched). The results are written by a child process (SETEX + PUBLISH in
 * pipelines, once every key is subscribed: `PUBSUB NUMSUB` of the last), so its CPU is not
 * counted. One warm-up round first; the median round and the spread are printed. Keys are
 * unique to the run and expire after a minute.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createApp } from '../../lib/index.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '7' },
    backend: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    /** Internal: run as the result writer. */
    writer: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const redisUrl = values.backend;

/** The task ids of one round. */
function idsOf(prefix: string, round: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${round}-${i}`);
}

function resultOf(id: string, i: number): string {
  return JSON.stringify({
    status: 'SUCCESS',
    result: i,
    traceback: null,
    children: [],
    date_done: new Date().toISOString().slice(0, -1),
    task_id: id,
  });
}

/** The writer: for each round asked for, waits until the round's last key is subscribed, then stores and publishes every result. */
async function writer(): Promise<void> {
  const redis = new Redis(redisUrl);
  process.on('message', (ask: { prefix: string; round: number }) => {
    void (async () => {
      const ids = idsOf(ask.prefix, ask.round);
      const last = `celery-task-meta-${ids.at(-1)}`;
      for (;;) {
        const [, subscribers] = (await redis.pubsub('NUMSUB', last)) as [string, number];
        if (Number(subscribers) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (let start = 0; start < ids.length; start += 1000) {
        const pipeline = redis.pipeline();
        for (let i = start; i < Math.min(ids.length, start + 1000); i++) {
          const key = `celery-task-meta-${ids[i]}`;
          const value = resultOf(ids[i], i);
          pipeline.setex(key, 60, value);
          pipeline.publish(key, value);
        }
        await pipeline.exec();
      }
      process.send!('written');
    })();
  });
  process.on('disconnect', () => void redis.quit());
}

async function main(): Promise<void> {
  const rounds = Number(values.rounds);
  const prefix = `bench-wait-cost-${randomBytes(4).toString('hex')}`;
  const child = fork(fileURLToPath(import.meta.url), ['--writer', '--backend', redisUrl, '--n', String(n)]);
  const app = createApp({ broker: 'memory://', backend: redisUrl });
  const perWait: number[] = [];
  try {
    for (let round = 0; round <= rounds; round++) {
      const ids = idsOf(prefix, round);
      const written = new Promise((resolve) => child.once('message', resolve));
      const start = process.cpuUsage();
      const waits = ids.map((id) => app.asyncResult<number>(id).get());
      child.send({ prefix, round });
      const results = await Promise.all(waits);
      // The batched UNSUBSCRIBE goes out 100 ms after the last wait ended: counted too.
      await new Promise((resolve) => setTimeout(resolve, 150));
      const used = process.cpuUsage(start);
      await written;
      if (results.some((result, i) => result !== i)) throw new Error(`round ${round}: a wait got another task's result`);
      if (round === 0) continue; // warm-up
      perWait.push((used.user + used.system) / n);
    }
  } finally {
    child.disconnect();
    await app.close();
  }
  const sorted = [...perWait].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`n=${n} waits per round, ${rounds} rounds: CPU per wait`);
  console.log(`  median ${median.toFixed(1)} µs (min ${sorted[0].toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)})`);
  console.log(`  rounds: ${perWait.map((us) => us.toFixed(1)).join(' ')}`);
}

await (values.writer ? writer() : main());
