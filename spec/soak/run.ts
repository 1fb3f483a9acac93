/**
 * The soak run:  npm run soak -- [--minutes 60] [--fault-rate 2] [--workers 3] [--rate 20] [--shared-faults] [--faults a,b]
 *
 * Not part of `npm test`. A steady stream of `rel.work` tasks (and `rel.effect`, whose side effect
 * goes through `once()`) flows through RabbitMQ — via a TCP proxy — and Redis to `celeriac worker`
 * processes, while faults are injected at random (a Poisson process, `--fault-rate` per minute),
 * one at a time. At the end it stops the faults, lets everything settle and prints the loss
 * checker's verdict (spec/support/loss-checker.ts) — lost and unexpected must be 0 — and every
 * `--sample` seconds a line with the totals so far and each worker's RSS.
 *
 * Faults touching only this run's processes and connections: SIGKILL, SIGTERM (both followed by
 * a replacement worker), SIGSTOP past the heartbeat then SIGCONT, proxy reset, proxy stall past
 * the heartbeat, 10 s of traffic sliced into 1–7 byte fragments. Worker 1 is never signalled, so
 * its RSS over the run shows whether a long-lived worker's memory grows. `--shared-faults` adds
 * faults on the shared RabbitMQ node and Redis server — close_all_connections, stop_app/start_app,
 * a memory alarm, a Redis restart (CI's Redis keeps nothing: results and once() claims stored
 * before it are gone) — so never use it beside other users of those servers.
 * Exit code 1 when anything was lost, ran unsent, or a worker logged a forbidden line.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { AMQP_URL } from '../support/apps.js';
import { closeAllConnections, restoreServices, setWatermark, startBroker, startRedis, stopBroker, stopRedis } from '../support/faults.js';
import { readJsonLines } from '../support/json-lines.js';
import { Workload } from '../support/loss-checker.js';
import type { RunningProcess } from '../support/processes.js';
import type { EffectRecord } from '../support/reliability-app.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const argv = yargs(hideBin(process.argv))
  .scriptName('npm run soak --')
  .option('minutes', { type: 'number', default: 60, describe: 'How long faults are injected' })
  .option('fault-rate', { type: 'number', default: 2, describe: 'Faults per minute on average (exponential gaps; one fault at a time)' })
  .option('workers', { type: 'number', default: 3, describe: 'celeriac worker processes (-c 4 each)' })
  .option('rate', { type: 'number', default: 20, describe: 'Tasks sent per second' })
  .option('effect-share', { type: 'number', default: 0.2, describe: 'Share of tasks that are rel.effect (effect through once())' })
  .option('sample', { type: 'number', default: 60, describe: 'Seconds between progress lines' })
  .option('shared-faults', { type: 'boolean', default: false, describe: 'Also fault the shared RabbitMQ node and Redis server' })
  .option('logs', { type: 'boolean', default: false, describe: 'At the end, print worker log lines other than task received/succeeded' })
  .option('faults', { type: 'string', describe: 'Comma-separated fault names to draw from (default: all enabled)' })
  .check((a) => a.workers >= 2 || 'at least 2 workers: worker 1 is never signalled')
  .strict()
  .parseSync();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];
const log = (line: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}`);

const t0 = Date.now();
const heartbeatSeconds = 2;
const proxy = await startTcpProxy();
const url = proxy.urlFor(AMQP_URL);
const w = new Workload({ producerBroker: url, workerBroker: url, heartbeatSeconds, producerOptions: { confirmTimeout: '20s' } });
const effectsFile = join(tmpdir(), `celeriac-soak-effects-${process.pid}.jsonl`);
const env = { RELIABILITY_EFFECTS: effectsFile };
const slots: RunningProcess[] = [];
let spawned = 0;
const spawn = async (slot: number): Promise<void> => {
  spawned += 1;
  slots[slot] = await w.startWorker(`soak${slot + 1}-${spawned}`, ['-c', '4', '--shutdown-timeout', '10s'], env);
};
for (let i = 0; i < argv.workers; i++) await spawn(i);
const alive = (p: RunningProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;
/** Slot 0 is the steady worker: connection faults only, never signalled. */
const victimSlot = (): number => 1 + Math.floor(Math.random() * Math.max(1, argv.workers - 1));

type Fault = { name: string; shared: boolean; run(): Promise<void> };
const faults: Fault[] = [
  {
    name: 'sigkill',
    shared: false,
    run: async () => {
      const slot = victimSlot();
      slots[slot].child.kill('SIGKILL');
      await slots[slot].exited;
      await spawn(slot);
    },
  },
  {
    name: 'sigterm',
    shared: false,
    run: async () => {
      const slot = victimSlot();
      slots[slot].child.kill('SIGTERM');
      await slots[slot].exited;
      await spawn(slot);
    },
  },
  {
    name: 'sigstop',
    shared: false,
    run: async () => {
      const victim = slots[victimSlot()];
      victim.child.kill('SIGSTOP');
      await sleep(heartbeatSeconds * 2500);
      victim.child.kill('SIGCONT');
    },
  },
  { name: 'proxy-reset', shared: false, run: async () => proxy.cut() },
  {
    name: 'proxy-stall',
    shared: false,
    run: async () => {
      proxy.stall();
      await sleep(heartbeatSeconds * 2500);
      proxy.resume();
    },
  },
  {
    name: 'proxy-slice',
    shared: false,
    run: async () => {
      proxy.slice({ minBytes: 1, maxBytes: 7 });
      await sleep(10_000);
      proxy.slice(false);
    },
  },
  { name: 'close-all-connections', shared: true, run: () => closeAllConnections('npm run soak') },
  {
    name: 'broker-restart',
    shared: true,
    run: async () => {
      try {
        await stopBroker();
        await sleep(2000);
      } finally {
        await startBroker();
      }
    },
  },
  {
    name: 'memory-alarm',
    shared: true,
    run: async () => {
      try {
        await setWatermark(0);
        await sleep(3000);
      } finally {
        await setWatermark(0.4);
      }
    },
  },
  {
    name: 'redis-restart',
    shared: true,
    run: async () => {
      try {
        await stopRedis();
        await sleep(2000);
      } finally {
        await startRedis();
      }
    },
  },
];
const chosen = argv.faults?.split(',') ?? null;
const enabled = faults.filter((f) => (chosen ? chosen.includes(f.name) : !f.shared || argv['shared-faults']));
if (enabled.length === 0) throw new Error(`no faults enabled; known: ${faults.map((f) => f.name).join(', ')}`);
const injected = new Map<string, number>();

const effects = (): EffectRecord[] => readJsonLines<EffectRecord>(effectsFile);
const rssMb = (p: RunningProcess): string => {
  if (!alive(p)) return '-';
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))?.[1];
    return kb ? (Number(kb) / 1024).toFixed(0) : '?';
  } catch {
    return '?';
  }
};
const progress = (): void => {
  const runs = w.executions();
  const ids = new Set(runs.map((r) => r.id));
  log(
    `sent ${w.confirmed.size} confirmed / ${w.failed.size} failed; runs ${runs.length} (${runs.length - ids.size} duplicate); ` +
      `faults ${[...injected.values()].reduce((a, b) => a + b, 0)}; ` +
      `RSS MB: ${slots.map((p, i) => `w${i + 1}${i === 0 ? '(steady)' : ''} ${rssMb(p)}`).join(', ')}; ` +
      `producer ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)}`,
  );
};

log(
  `soak: ${argv.minutes} min, ${argv['fault-rate']} faults/min from [${enabled.map((f) => f.name).join(', ')}], ` +
    `${argv.workers} workers, ${argv.rate} tasks/s`,
);
const endAt = t0 + argv.minutes * 60_000;
let sending = true;
const sender = (async () => {
  while (sending) {
    const tick = Date.now();
    const effectCount = Math.round(argv.rate * argv['effect-share']);
    const ms = 5 + Math.floor(Math.random() * 95);
    await Promise.all([w.send(argv.rate - effectCount, ms, 25), w.send(effectCount, ms, 25, 'rel.effect')]);
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
})();
const sampler = setInterval(progress, argv.sample * 1000);
try {
  while (Date.now() < endAt) {
    const gapMs = argv['fault-rate'] > 0 ? -Math.log(1 - Math.random()) * (60_000 / argv['fault-rate']) : Infinity;
    if (Date.now() + gapMs >= endAt) {
      await sleep(endAt - Date.now());
      break;
    }
    await sleep(gapMs);
    const fault = pick(enabled);
    const started = Date.now();
    try {
      await fault.run();
      injected.set(fault.name, (injected.get(fault.name) ?? 0) + 1);
      log(`fault ${fault.name} (${Date.now() - started} ms)`);
    } catch (error) {
      log(`fault ${fault.name} failed to inject: ${(error as Error).message}`);
    }
  }
} finally {
  sending = false;
  proxy.resume();
  proxy.slice(false);
  for (const p of slots) if (alive(p)) p.child.kill('SIGCONT');
  if (argv['shared-faults']) await restoreServices();
}
await sender;
log('faults stopped; settling');
const report = await w.settle(180_000);
clearInterval(sampler);
progress();
const perId = new Map<string, number>();
for (const e of effects()) perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
const effectIds = new Set(
  w
    .executions()
    .filter((r) => r.effectBy !== undefined)
    .map((r) => r.id),
);
const extraEffects = [...perId.values()].reduce((sum, n) => sum + n - 1, 0);
const forbidden = w.forbiddenLogLines();
console.log(
  `\nfaults injected: ${JSON.stringify(Object.fromEntries(injected))}; workers started: ${spawned}; proxy connections: ${proxy.accepted}`,
);
console.log(`checker: ${Workload.summary(report)}`);
console.log(
  `once() effects: ${perId.size} tasks with an effect, ${extraEffects} effects beyond one (tasks that ran it: ${effectIds.size})`,
);
console.log(`forbidden log lines: ${forbidden.length}`);
for (const line of [...forbidden.slice(0, 5), ...w.linesAbout(report.lost.slice(0, 5))]) console.log(`  ${line}`);
if (argv.logs) {
  for (const [i, p] of w.workers.entries()) {
    for (const line of p
      .output()
      .split('\n')
      .filter((l) => l && !/\] (received|succeeded in)/.test(l)))
      console.log(`  worker ${i} (pid ${p.child.pid}): ${line}`);
  }
}
await w.close();
await proxy.close();
rmSync(effectsFile, { force: true });
process.exit(report.lost.length > 0 || report.unexpected.length > 0 || forbidden.length > 0 ? 1 : 0);
