/**
 * celeriac benchmark runner:  npm run bench -- [--scenario NAME]... [--n 20000] [--json out.json]
 *
 * Runs each scenario in its own processes (see ipc.ts for the lifecycle), prints progress to
 * stderr, then a table on stdout. Each celeriac scenario is read against the raw amqplib floor
 * measured in the same run (raw-floor.ts); selecting a celeriac scenario also runs its floor
 * unless --no-floor is given.
 *
 * Columns: tasks/s over the scenario's measured interval; the ratio of that to the floor's;
 * p50/p99 per-task send → result latency; CPU ms per task and peak RSS of the producer and the
 * worker process (CPU from process.cpuUsage() over 'go' → 'stop', RSS sampled every 100 ms), and
 * the CPU ms per task of the RabbitMQ node and of Redis when they run on this machine
 * (broker-cpu.ts, 'go' → last report).
 * The idle scenarios (idle.ts) run no tasks: their row has only the worker RSS column, the
 * median RSS of the idle process, and a note compares it with the floor's.
 * On a shared or small machine, use --repeat 3 (or more). Each round runs every celeriac
 * scenario right next to its floors (floors first in odd rounds, last in even ones), so the
 * figures a ratio is made of are taken minutes apart at most and the order evens out; the table
 * shows the median run of each scenario, and its 'vs floor' column is the median of the
 * per-round ratios (a note lists them), which the machine's drift between rounds does not move.
 * A scenario read against more than one floor (otherFloors) shows one ratio per floor there,
 * `a / b` in the order of floorsOf.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import os from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { toMilliseconds } from '../../lib/util/duration.js';
import { DELIVERY_MODES, type DeliveryMode } from '../../lib/canvas/call-options.js';
import { brokerVersion } from './broker-admin.js';
import { CPU_PROFILE_DIR_ENV } from './child.js';
import { celeriacScenarios } from './celeriac-roundtrip.js';
import { clusterScenarios } from './cluster.js';
import { idleScenarios } from './idle.js';
import { peerScenarios } from './peers.js';
import type { ProcessStats } from './ipc.js';
import { median } from './measure.js';
import { megabytes } from './proc-memory.js';
import { floorScenarios } from './raw-floor.js';
import { redisFloorScenarios } from './raw-redis-floor.js';
import { sentinelScenarios } from './sentinel.js';
import { SCALE_SCENARIO_NAMES, scaleScenarios } from './scale-scenarios.js';
import { RabbitNode } from '../support/rabbit-node.js';
import { floorsOf, prefetchOf, type BenchOptions, type Scenario, type ScenarioResult } from './scenario.js';

const scenarios: Scenario[] = [
  ...floorScenarios,
  ...redisFloorScenarios,
  ...celeriacScenarios,
  ...peerScenarios,
  ...idleScenarios,
  ...clusterScenarios,
  ...sentinelScenarios,
  ...scaleScenarios,
];
const names = scenarios.map((s) => s.name);

const argv = yargs(hideBin(process.argv))
  .scriptName('npm run bench --')
  .usage('$0 [options]\n\nScenarios:\n' + scenarios.map((s) => `  ${s.name.padEnd(26)}${s.description}`).join('\n'))
  .option('scenario', {
    alias: 's',
    type: 'string',
    array: true,
    choices: names,
    describe: `Scenario to run (repeatable; default: all but the peers and ${scenarios
      .filter((s) => s.optIn)
      .map((s) => s.name)
      .join(', ')})`,
  })
  .option('peers', {
    type: 'boolean',
    default: false,
    describe: 'Also run the peer scenarios (BullMQ, Python Celery), or with --scenario add them to those named',
  })
  .option('scale', {
    type: 'boolean',
    default: false,
    describe: 'Run the scale scenarios (scale-*, long at full size), or with --scenario add them to those named',
  })
  .option('scale-factor', {
    type: 'number',
    default: 1,
    describe: 'The scale scenarios run this fraction of their full sizes (e.g. 0.01 to try them on a shared broker)',
  })
  .option('rabbit-node', {
    type: 'number',
    describe: 'Boot a RabbitMQ node of its own on this port for the run (stopped after it) and use it instead of --amqp-url',
  })
  .option('n', { type: 'number', default: 20_000, describe: 'Tasks per scenario' })
  .option('repeat', { type: 'number', default: 1, describe: 'Rounds of all selected scenarios; the median run of each is shown' })
  .option('json', { type: 'string', describe: 'Also write the results to this JSON file' })
  .option('floor', {
    type: 'boolean',
    default: true,
    describe: 'Run the floor of each selected celeriac scenario too (--no-floor to skip)',
  })
  .option('concurrency', {
    type: 'number',
    default: 4,
    describe: 'celeriac worker concurrency of the tuned rows (celeriac-defaults and celeriac-c4 keep theirs)',
  })
  .option('prefetch-multiplier', {
    type: 'number',
    default: 16,
    describe: 'Prefetch = concurrency × this, for the tuned celeriac rows and the floor consumers alike',
  })
  .option('amqp-url', { type: 'string', default: process.env.CELERIAC_BROKER_URL ?? 'amqp://guest:guest@127.0.0.1:5672' })
  .option('backend', {
    type: 'string',
    default: process.env.CELERIAC_RESULT_BACKEND ?? 'redis://127.0.0.1:6379/0',
    describe: 'Result backend of the celeriac scenarios',
  })
  .option('timeout', { type: 'number', default: 300, describe: 'Seconds a scenario may take' })
  .option('max-unconfirmed-publishes', {
    type: 'number',
    describe: "celeriac's app option maxUnconfirmedPublishes (default: none, no limit); the floors are not limited",
  })
  .option('task-delivery-mode', {
    type: 'string',
    choices: DELIVERY_MODES,
    default: 'persistent',
    describe: "celeriac's app option taskDeliveryMode; the floors' messages stay persistent",
  })
  .option('window', { type: 'string', default: '1h', describe: 'celeriac-countdown: spread the countdowns over this long (e.g. 60s, 1h)' })
  .option('cpu-prof', { type: 'string', describe: 'Write a V8 CPU profile of every producer and worker process into this directory' })
  .check((a) => {
    if (!Number.isInteger(a.n) || a.n < 1) throw new Error('--n must be a positive integer');
    if (!Number.isInteger(a.repeat) || a.repeat < 1) throw new Error('--repeat must be a positive integer');
    if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new Error('--concurrency must be a positive integer');
    if (!Number.isInteger(a['prefetch-multiplier']) || a['prefetch-multiplier'] < 1) {
      throw new Error('--prefetch-multiplier must be a positive integer');
    }
    if (!(a['scale-factor'] > 0)) throw new Error('--scale-factor must be a positive number');
    const port = a['rabbit-node'];
    if (port !== undefined && (!Number.isInteger(port) || port < 1024 || port > 45_535 || port === 5672)) {
      throw new Error('--rabbit-node must be a free port in 1024–45535 other than 5672 (its Erlang distribution port is port + 20000)');
    }
    const window = a['max-unconfirmed-publishes'];
    if (window !== undefined && (!Number.isInteger(window) || window < 1))
      throw new Error('--max-unconfirmed-publishes must be a positive integer');
    return true;
  })
  .strict()
  .version(false)
  .help()
  .wrap(null)
  .parseSync();

function selectScenarios(): Scenario[] {
  const named = argv.scenario?.length ? argv.scenario : argv.scale ? [] : undefined;
  const wanted = new Set(named ?? scenarios.filter((s) => !s.optIn && !s.peer).map((s) => s.name));
  if (argv.peers) for (const scenario of scenarios) if (scenario.peer) wanted.add(scenario.name);
  if (argv.scale) for (const name of SCALE_SCENARIO_NAMES) wanted.add(name);
  if (argv.floor) {
    for (const scenario of scenarios) if (wanted.has(scenario.name)) for (const floor of floorsOf(scenario)) wanted.add(floor);
  }
  return scenarios.filter((s) => wanted.has(s.name));
}

const progress = (label: string, text: string): void => {
  process.stderr.write(`  ${label}: ${text}\n`);
};

// --- table ---------------------------------------------------------------------------------

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
const cpuPerTask = (stats: ProcessStats | undefined, tasks: number): string =>
  stats ? fixed((stats.cpuUserMs + stats.cpuSystemMs) / tasks, 3) : '-';
/** A local service's CPU (broker, Redis) per task; '-' when it was not read. */
const serviceCpuPerTask = (ms: number | undefined, tasks: number): string => (ms === undefined ? '-' : fixed(ms / tasks, 3));
const rssMb = (stats: ProcessStats | undefined): string => (stats ? fixed(stats.peakRssBytes / 2 ** 20, 0) : '-');

/** A scenario's run in one round (rounds count from 1). */
type RoundResult = ScenarioResult & { round: number };

/**
 * A scenario's throughput over one of its floors' (default: its first), round by round: only
 * rounds in which both ran, in round order.
 */
function ratiosByRound(name: string, runs: Map<string, RoundResult[]>, floorName = runs.get(name)?.[0]?.floor): number[] {
  const own = runs.get(name) ?? [];
  if (!floorName || own[0]?.idle) return [];
  const floorRuns = runs.get(floorName) ?? [];
  return own.flatMap((run) => {
    const floor = floorRuns.find((f) => f.round === run.round);
    return floor ? [run.tasksPerSecond / floor.tasksPerSecond] : [];
  });
}

const isFloor = (name: string): boolean => scenarios.some((s) => floorsOf(s).includes(name));

/** The 'vs floor' figure: 1 for a floor, the median per-round ratio for a scenario with one (its first floor). */
function ratioToFloor(result: ScenarioResult, runs: Map<string, RoundResult[]>): number | undefined {
  if (result.idle) return undefined;
  if (!result.floor) return isFloor(result.name) ? 1 : undefined;
  return median(ratiosByRound(result.name, runs));
}

/** The median per-round ratio to each of a scenario's floors, by floor name, in floorsOf's order. */
function ratiosToFloors(result: ScenarioResult, runs: Map<string, RoundResult[]>): Record<string, number | null> {
  if (result.idle) return {};
  return Object.fromEntries(floorsOf(result).map((floor) => [floor, median(ratiosByRound(result.name, runs, floor)) ?? null]));
}

/** The 'vs floor' cell: its ratio to each of its floors, `a / b`; 1.00 for a floor. */
function ratioCell(result: ScenarioResult, runs: Map<string, RoundResult[]>): string {
  const ratios = Object.values(ratiosToFloors(result, runs));
  if (ratios.length === 0) return fixed(ratioToFloor(result, runs), 2);
  return ratios.map((ratio) => fixed(ratio ?? undefined, 2)).join(' / ');
}

/** With --repeat: the per-round ratios behind a scenario's 'vs floor', one note per floor. */
function ratioNotes(result: ScenarioResult, runs: Map<string, RoundResult[]>): string[] {
  return floorsOf(result).flatMap((floor) => {
    const ratios = ratiosByRound(result.name, runs, floor);
    if (ratios.length < 2) return [];
    return [`vs ${floor} by round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${fixed(median(ratios), 2)})`];
  });
}

/**
 * The order of one round: the selected scenarios in groups, a group being scenarios joined by
 * being one another's floors (two celeriac rows sharing a floor, a row with two floors): its
 * floors first, then the rest, all as selected, the whole group reversed in even rounds (so
 * neither side always runs first). Groups follow one another in the order they were selected.
 */
function roundOrder(selected: Scenario[], round: number): Scenario[] {
  const names = new Set(selected.map((s) => s.name));
  const root = new Map(selected.map((s) => [s.name, s.name]));
  const find = (name: string): string => {
    while (root.get(name) !== name) name = root.get(name)!;
    return name;
  };
  for (const scenario of selected) {
    for (const floor of floorsOf(scenario)) if (names.has(floor)) root.set(find(floor), find(scenario.name));
  }
  const floors = new Set(selected.flatMap((s) => floorsOf(s)));
  const groups = new Map<string, Scenario[]>();
  for (const scenario of selected) {
    const key = find(scenario.name);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(scenario);
  }
  return [...groups.values()].flatMap((group) => {
    const ordered = [...group.filter((s) => floors.has(s.name)), ...group.filter((s) => !floors.has(s.name))];
    return round % 2 === 0 ? ordered.reverse() : ordered;
  });
}

function table(results: ScenarioResult[], runs: Map<string, RoundResult[]>, failures: Array<{ name: string; error: string }>): string {
  const header = [
    'scenario',
    'tasks/s',
    'vs floor',
    'p50 ms',
    'p99 ms',
    'cpu ms/task prod',
    'cpu ms/task wrk',
    'cpu ms/task broker',
    'cpu ms/task redis',
    'rss MB prod',
    'rss MB wrk',
  ];
  const rows = results.map((r) => [
    r.name,
    r.idle ? '-' : Math.round(r.tasksPerSecond).toLocaleString('en-US'),
    ratioCell(r, runs),
    fixed(r.latency?.p50, 1),
    fixed(r.latency?.p99, 1),
    cpuPerTask(r.producer, r.cpuTasks ?? r.tasks),
    cpuPerTask(r.worker, r.cpuTasks ?? r.tasks),
    serviceCpuPerTask(r.brokerCpuMs, r.cpuTasks ?? r.tasks),
    serviceCpuPerTask(r.redisCpuMs, r.cpuTasks ?? r.tasks),
    rssMb(r.producer),
    r.idle ? megabytes(r.idle.median.rssKb) : rssMb(r.worker),
  ]);
  for (const f of failures) rows.push([f.name, 'FAILED', ...header.slice(2).map(() => '')]);
  return formatTable(header, rows);
}

/** A header, a rule and the rows, each column as wide as its widest cell: the first left-aligned, the others right. */
function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Chord scenarios: the header alone (as a group), the chord, and the difference. */
function chordTable(results: ScenarioResult[]): string | null {
  const chords = results.filter((r) => r.chord);
  if (chords.length === 0) return null;
  const header = ['chord scenario', 'header N', 'group wall s', 'chord wall s', 'chord overhead s'];
  const rows = chords.map((r) => {
    const c = r.chord!;
    return [
      r.name,
      c.size.toLocaleString('en-US'),
      fixed(c.groupSeconds, 2),
      fixed(c.chordSeconds, 2),
      fixed(c.chordSeconds - c.groupSeconds, 2),
    ];
  });
  return formatTable(header, rows);
}

/** An idle scenario's median RSS over its floor's, MB (with anon and file parts). */
function idleOverFloor(result: ScenarioResult, results: ScenarioResult[]): string[] {
  const floor = results.find((r) => r.name === result.floor)?.idle;
  if (!result.idle || !floor) return [];
  const [own, base] = [result.idle.median, floor.median];
  const over = (kb: number): string => `${kb < 0 ? '' : '+'}${megabytes(kb)}`;
  return [
    `idle RSS MB median ${over(own.rssKb - base.rssKb)} over ${result.floor} ` +
      `(anon ${over(own.anonKb - base.anonKb)}, file ${over(own.fileKb - base.fileKb)})`,
  ];
}

/** What --repeat ranks a scenario's runs by: throughput, or an idle scenario's median RSS. */
const rankOf = (r: ScenarioResult): number => (r.idle ? r.idle.median.rssKb : r.tasksPerSecond);
const rankText = (r: ScenarioResult): string =>
  r.idle ? megabytes(r.idle.median.rssKb) : Math.round(r.tasksPerSecond).toLocaleString('en-US');

/** With --repeat, the run with the median rank stands for the scenario (whole, not mixed). */
function medianRun(runsOfOne: ScenarioResult[]): ScenarioResult {
  const sorted = [...runsOfOne].sort((a, b) => rankOf(a) - rankOf(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (sorted.length === 1) return median;
  const range = `${rankText(sorted[0])}–${rankText(sorted[sorted.length - 1])}`;
  return {
    ...median,
    notes: [`median of ${sorted.length} runs; ${median.idle ? 'idle RSS MB median' : 'tasks/s'} ranged ${range}`, ...median.notes],
  };
}

// --- main ----------------------------------------------------------------------------------

/**
 * With --rabbit-node PORT, the run goes to a RabbitMQ node of its own (spec/support/rabbit-node.ts,
 * booted from an empty folder, not timed, stopped afterwards whatever happened); its CPU column
 * reads that node's Erlang VM.
 */
async function main(): Promise<number> {
  const port = argv['rabbit-node'];
  if (port === undefined) return bench(argv['amqp-url']);
  const node = new RabbitNode({ name: `celeriac-bench-${port}`, port });
  process.stderr.write(`bench: booting a RabbitMQ node of its own on port ${port} (${node.dir})\n`);
  await node.start();
  try {
    return await bench(node.url, [node.pid]);
  } finally {
    await node.stop();
  }
}

async function bench(amqpUrl: string, brokerPids?: readonly number[]): Promise<number> {
  // Read by child.ts when it forks each bench process.
  if (argv['cpu-prof']) process.env[CPU_PROFILE_DIR_ENV] = resolve(argv['cpu-prof']);
  const options: BenchOptions = {
    n: argv.n,
    amqpUrl,
    ...(brokerPids ? { brokerPids } : {}),
    scaleFactor: argv['scale-factor'],
    backendUrl: argv.backend,
    concurrency: argv.concurrency,
    prefetchMultiplier: argv['prefetch-multiplier'],
    maxUnconfirmedPublishes: argv['max-unconfirmed-publishes'] ?? null,
    taskDeliveryMode: argv['task-delivery-mode'] as DeliveryMode,
    timeoutMs: argv.timeout * 1000,
    windowMs: toMilliseconds(argv.window, '--window'),
    onProgress: progress,
  };
  const selected = selectScenarios();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    broker: await brokerVersion(options.amqpUrl),
    n: options.n,
    repeat: argv.repeat,
    concurrency: options.concurrency,
    prefetch: prefetchOf(options),
  };
  process.stderr.write(
    `bench: ${selected.map((s) => s.name).join(', ')}\n` +
      `bench: n=${meta.n} prefetch=${meta.prefetch} (concurrency ${meta.concurrency}) · ` +
      `${meta.broker} · node ${meta.node} · ${meta.cpus}\n`,
  );

  // Rounds, each running every selected scenario once, each next to its floor (roundOrder):
  // machine-wide drift (other load, the broker's disk) then touches a celeriac scenario and its
  // floor alike.
  const runs = new Map<string, RoundResult[]>(selected.map((s) => [s.name, []]));
  const failures: Array<{ name: string; error: string }> = [];
  for (let round = 1; round <= argv.repeat; round++) {
    for (const scenario of roundOrder(selected, round)) {
      const tag = argv.repeat > 1 ? `${scenario.name} ${round}/${argv.repeat}` : scenario.name;
      process.stderr.write(`\n[${tag}] ${scenario.description}\n`);
      try {
        const r = { ...(await scenario.run(options)), floor: scenario.floor, otherFloors: scenario.otherFloors, round };
        runs.get(scenario.name)?.push(r);
        const figure = r.idle ? `idle RSS ${megabytes(r.idle.median.rssKb)} MB median` : `${Math.round(r.tasksPerSecond)} tasks/s`;
        process.stderr.write(`[${tag}] ${figure} in ${r.seconds.toFixed(2)} s\n`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ name: scenario.name, error: message });
        process.stderr.write(`[${tag}] FAILED: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
      }
    }
  }
  const results = [...runs.values()].filter((r) => r.length > 0).map(medianRun);

  process.stdout.write(
    `\nn=${meta.n}${argv.repeat > 1 ? ` (median of ${argv.repeat})` : ''}, prefetch=${meta.prefetch}, ` +
      `${meta.broker}, node ${meta.node}, ${meta.cpus}\n\n` +
      table(results, runs, failures) +
      '\n',
  );
  const chords = chordTable(results);
  if (chords) process.stdout.write(`\n${chords}\n`);
  const notes = results.flatMap((r) =>
    [...ratioNotes(r, runs), ...r.notes, ...idleOverFloor(r, results)].map((note) => `  ${r.name}: ${note}`),
  );
  const errors = failures.map((f) => `  ${f.name}: ${f.error}`);
  if (notes.length) process.stdout.write(`\nnotes:\n${notes.join('\n')}\n`);
  if (errors.length) process.stdout.write(`\nfailures:\n${errors.join('\n')}\n`);

  if (argv.json) {
    const rows = results.map((r) => ({
      ...r,
      ratioToFloor: ratioToFloor(r, runs) ?? null,
      ratiosByRound: ratiosByRound(r.name, runs),
      ratiosToFloors: ratiosToFloors(r, runs),
      ratiosByFloorAndRound: Object.fromEntries(floorsOf(r).map((floor) => [floor, ratiosByRound(r.name, runs, floor)])),
    }));
    const allRuns = Object.fromEntries(runs);
    await writeFile(argv.json, JSON.stringify({ meta, results: rows, runs: allRuns, failures }, null, 2) + '\n');
    process.stderr.write(`bench: wrote ${argv.json}\n`);
  }
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
