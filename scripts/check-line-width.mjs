// Fails when a source line is longer than Prettier's printWidth. Run: npm run lint:width.
//
// Why: Prettier breaks code to fit printWidth, but never a string or template literal, a regular
// expression or a comment, so such lines can still overflow; oxlint has no max-len rule. This
// catches them (split a long literal into pieces joined with +, rewrap a long comment).
//
// Scans *.ts and *.mjs under lib/, bin/, spec/ (not spec/fixtures/: captured messages, kept byte
// for byte) and scripts/, and the top-level *.mjs files. Width counts code points.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const { printWidth } = JSON.parse(readFileSync('.prettierrc.json', 'utf8'));
const SOURCE = /\.(ts|mjs)$/;
const EXCLUDED = new Set(['spec/fixtures']);

/** The source files under `dir`, recursively. */
function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return EXCLUDED.has(path) ? [] : sources(path);
    return SOURCE.test(entry.name) ? [path] : [];
  });
}

const files = [
  ...['lib', 'bin', 'spec', 'scripts'].flatMap(sources),
  ...readdirSync('.').filter((name) => name.endsWith('.mjs')), // .dependency-cruiser.mjs included
];
const over = [];
for (const file of files) {
  readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const width = [...line].length;
      if (width > printWidth) over.push(`${file}:${i + 1}: ${width} > ${printWidth}`);
    });
}
if (over.length > 0) {
  console.error(`Lines longer than printWidth (${printWidth}), which Prettier does not break:\n${over.join('\n')}`);
  process.exit(1);
}
