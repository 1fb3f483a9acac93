#!/usr/bin/env node
// Runs the compiled specs with node's test runner.
// Usage: node spec/run.mjs [--skip=SUITE[,SUITE]] [unit|integration|reliability|cluster|...]
// Specs live in spec/<suite>/**/*.test.ts and are compiled to dist/spec by `npm run build`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('../dist/spec/', import.meta.url).pathname;
const args = process.argv.slice(2);
const skipped = args.filter((arg) => arg.startsWith('--skip=')).flatMap((arg) => arg.slice('--skip='.length).split(','));
const suites = args.filter((arg) => !arg.startsWith('--skip='));

function collect(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return collect(path);
    return entry.endsWith('.test.js') ? [path] : [];
  });
}

const files = collect(root)
  .filter((file) => suites.length === 0 || suites.some((suite) => file.startsWith(join(root, suite) + '/')))
  .filter((file) => !skipped.some((suite) => file.startsWith(join(root, suite) + '/')))
  .sort();
if (files.length === 0) {
  console.error(`no spec files found under ${root} for ${suites.join(', ') || 'all suites'}`);
  process.exit(1);
}
// spec/reliability injects faults into the shared RabbitMQ node and Redis server (stop_app,
// memory alarms, Redis restarts): it runs after the other suites, alone and one file at a time.
const reliability = join(root, 'reliability') + '/';
// spec/cluster starts RabbitMQ and Redis nodes of its own beside the shared pair (a cluster,
// Sentinel, TLS listeners) and kills them: it runs last, one file at a time, so two files never
// start nodes on the same ports and no other spec competes with a fail-over for the 2 cores.
const cluster = join(root, 'cluster') + '/';
const regular = files.filter((file) => !file.startsWith(reliability) && !file.startsWith(cluster));
const faulty = files.filter((file) => file.startsWith(reliability));
const clustered = files.filter((file) => file.startsWith(cluster));
// Bounds, so a hung spec fails the run with its name instead of holding CI until it is killed:
// each test gets PER_TEST_MS (the slowest take about a minute; hooks are bounded only by the
// batch), each batch BATCH_MS in all.
const PER_TEST_MS = 300_000;
const BATCH_MS = 30 * 60_000;
/** --test-timeout came with Node 20.11; before it only the batch bound applies. */
const [major, minor] = process.versions.node.split('.').map(Number);
const HAS_TEST_TIMEOUT = major > 20 || (major === 20 && minor >= 11);

/**
 * Runs one batch in a process group of its own, so a batch over BATCH_MS is killed with every
 * process it started (spec files, workers they spawned) and none keeps the output open.
 * Resolves with the exit status; an interrupt of this script stops the group too.
 */
function runBatch(name, batch, concurrency) {
  const args = ['--test', `--test-concurrency=${concurrency}`, ...(HAS_TEST_TIMEOUT ? [`--test-timeout=${PER_TEST_MS}`] : []), ...batch];
  const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true });
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`spec run: the ${name} specs were still running after ${BATCH_MS / 60_000} min; killed`);
    killGroup('SIGKILL');
  }, BATCH_MS);
  const forward = (signal) => {
    interrupted = true;
    killGroup(signal);
  };
  process.on('SIGINT', forward).on('SIGTERM', forward).on('SIGHUP', forward);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', forward).off('SIGTERM', forward).off('SIGHUP', forward);
      if (!timedOut) killGroup('SIGKILL'); // whatever a finished batch left behind
      resolve(timedOut || signal ? 1 : (code ?? 1));
    });
  });
}

let interrupted = false;
let status = 0;
for (const [name, batch, concurrency] of [
  ['regular', regular, 2],
  ['reliability', faulty, 1],
  ['cluster', clustered, 1],
]) {
  if (batch.length === 0 || interrupted) continue;
  const code = await runBatch(name, batch, concurrency);
  if (code !== 0) status = code;
}
process.exit(status);
