#!/usr/bin/env node
// Runs the compiled specs with node's test runner. Usage: node spec/run.mjs [unit|integration|reliability|...]
// Specs live in spec/<suite>/**/*.test.ts and are compiled to dist/spec by `npm run build`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/spec/', import.meta.url).pathname;
const suites = process.argv.slice(2);

function collect(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return collect(path);
    return entry.endsWith('.test.js') ? [path] : [];
  });
}

const files = collect(root)
  .filter((file) => suites.length === 0 || suites.some((suite) => file.startsWith(join(root, suite) + '/')))
  .sort();
if (files.length === 0) {
  console.error(`no spec files found under ${root} for ${suites.join(', ') || 'all suites'}`);
  process.exit(1);
}
// spec/reliability injects faults into the shared RabbitMQ node and Redis server (stop_app,
// memory alarms, Redis restarts): it runs after the other suites, alone and one file at a time.
const reliability = join(root, 'reliability') + '/';
const regular = files.filter((file) => !file.startsWith(reliability));
const faulty = files.filter((file) => file.startsWith(reliability));
let status = 0;
for (const [batch, concurrency] of [[regular, 2], [faulty, 1]]) {
  if (batch.length === 0) continue;
  const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...batch], { stdio: 'inherit' });
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
