#!/usr/bin/env node
// Runs the compiled specs with node's test runner.
// Usage: node spec/run.mjs [--skip=SUITE[,SUITE]] [unit|integration|reliability|cluster|...|spec/<suite>/<name>.test.ts ...]
// Specs live in spec/<suite>/**/*.test.ts and are compiled to dist/spec by `npm run build`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
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

/** A suite (cluster, spec/cluster) selects the files under it; a spec file (spec/cluster/tls.test.ts, or dist/'s .js) selects itself. */
const selects = (suite, file) => {
  const path = join(root, suite.replace(/^(dist\/)?spec\//, '').replace(/\/$/, ''));
  return file.startsWith(path + '/') || file === path.replace(/\.test\.ts$/, '.test.js');
};
const files = collect(root)
  .filter((file) => suites.length === 0 || suites.some((suite) => selects(suite, file)))
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
// The cluster fault specs share one three-node RabbitMQ cluster (spec/support/fault-cluster.ts;
// a file says so by importing it): they run first, with CELERIAC_SPEC_KEEP_CLUSTER=1 so each
// leaves the cluster up (and whole) for the next; the cluster is stopped once they are done,
// before the other cluster specs run.
const sharesCluster = (file) => readFileSync(file, 'utf8').includes('/support/fault-cluster.js');
const onSharedCluster = files.filter((file) => file.startsWith(cluster) && sharesCluster(file));
const clustered = files.filter((file) => file.startsWith(cluster) && !sharesCluster(file));
const CLUSTER_CLI = join(root, 'support', 'cluster-cli.js');
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
function runBatch(name, batch, concurrency, env = {}) {
  const args = ['--test', `--test-concurrency=${concurrency}`, ...(HAS_TEST_TIMEOUT ? [`--test-timeout=${PER_TEST_MS}`] : []), ...batch];
  const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true, env: { ...process.env, ...env } });
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

/**
 * Stops the shared cluster after its batch, however the batch ended (unless `npm run cluster:up`
 * started it: then it is the user's and stays up). A failure to stop it fails the run.
 */
function stopSharedCluster() {
  const child = spawn(process.execPath, [CLUSTER_CLI, 'down', '--after-specs'], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

let interrupted = false;
let status = 0;
// The side-by-side specs run three at a time: most of a spec's time is spent waiting on the
// brokers and on the workers it started, so on two cores three files finish a batch about a
// fifth sooner than two (measured: 248 → 196 s), and four gain little more (189 s).
for (const [name, batch, concurrency, env, afterBatch] of [
  ['regular', regular, 3],
  ['reliability', faulty, 1],
  ['cluster (shared RabbitMQ cluster)', onSharedCluster, 1, { CELERIAC_SPEC_KEEP_CLUSTER: '1' }, stopSharedCluster],
  ['cluster', clustered, 1],
]) {
  if (batch.length === 0 || interrupted) continue;
  const code = await runBatch(name, batch, concurrency, env);
  if (code !== 0) status = code;
  const cleanup = (await afterBatch?.()) ?? 0;
  if (cleanup !== 0 && status === 0) status = cleanup;
}
process.exit(status);
