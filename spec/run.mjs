#!/usr/bin/env node
// Runs the compiled specs with node's test runner. Usage: node spec/run.mjs [unit|integration|...]
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
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
