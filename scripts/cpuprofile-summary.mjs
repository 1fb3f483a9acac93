#!/usr/bin/env node
/**
 * Summarizes V8 CPU profiles (`.cpuprofile`, as `npm run bench -- --cpu-prof DIR` writes them):
 * self and total time by function, and self time by area (amqplib's table codec, celeriac's
 * protocol, producer, result parsing, logging, ...).
 *
 *   node scripts/cpuprofile-summary.mjs FILE.cpuprofile [--top 25] [--per N]
 *
 * `--per N` also prints each figure as µs per N-th (e.g. the tasks the process handled).
 * Total time counts a sample once per function however often it recurs on the stack.
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const [, value] = args.splice(at, 2);
  return Number(value);
};
const top = option('--top', 25);
const per = option('--per', 0);
/** `--callers NAME`: also prints the stacks (3 frames up) that led to functions named NAME, by time. */
const callersAt = args.indexOf('--callers');
const callersOf = callersAt === -1 ? null : args.splice(callersAt, 2)[1];
if (args.length === 0) {
  console.error('usage: node scripts/cpuprofile-summary.mjs FILE.cpuprofile... [--top 25] [--per N]');
  process.exit(2);
}

/** Areas by the script a function is in (first match wins), then by its name for V8's own entries. */
const AREAS = [
  [/amqplib\/lib\/codec\.js/, 'amqplib table codec'],
  [/amqplib\/lib\/defs\.js/, 'amqplib method/property codec'],
  [/amqplib\/lib\/frame\.js/, 'amqplib frames'],
  [/amqplib\//, 'amqplib other'],
  [/ioredis\/|redis-parser|@ioredis|standard-as-callback|denque/, 'ioredis'],
  [/winston|logform|triple-beam|readable-stream/, 'winston'],
  [/msgpackr/, 'msgpackr'],
  [/\/lib\/protocol\//, 'celeriac protocol'],
  [/\/lib\/app\//, 'celeriac app/producer'],
  [/\/lib\/broker\/amqp\/header-values|\/lib\/broker\/amqp\/properties/, 'celeriac amqp headers/properties'],
  [/\/lib\/broker\//, 'celeriac broker adapter'],
  [/\/lib\/result\//, 'celeriac result'],
  [/\/lib\/backends\//, 'celeriac backends'],
  [/\/lib\/worker\//, 'celeriac worker'],
  [/\/lib\/log\//, 'celeriac logging'],
  [/\/lib\/events\//, 'celeriac events'],
  [/\/lib\/canvas\//, 'celeriac canvas'],
  [/\/lib\/util\//, 'celeriac util'],
  [/\/lib\/tracing\//, 'celeriac tracing'],
  [/\/lib\//, 'celeriac other'],
  [/\/spec\//, 'bench harness'],
  [/^node:/, 'node core (js)'],
];

function areaOf(frame) {
  if (frame.url === '') {
    if (frame.functionName === '(garbage collector)') return 'GC';
    if (frame.functionName === '(idle)') return 'idle';
    if (frame.functionName === '(program)') return 'V8/native (program)';
    return 'native';
  }
  for (const [pattern, area] of AREAS) if (pattern.test(frame.url)) return area;
  return 'other js';
}

function keyOf(frame) {
  const file = frame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

function summarize(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map();
  const total = new Map();
  const areas = new Map();
  const callers = new Map();
  let all = 0;
  let busy = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  // Each sample's time is the delta to the next sample (V8 records it with the next one).
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]);
    all += us;
    const area = areaOf(node.callFrame);
    add(areas, area, us);
    if (area === 'idle') continue;
    busy += us;
    add(self, keyOf(node.callFrame), us);
    if (callersOf !== null) {
      const stack = [];
      let hit = false;
      for (let id = node.id; id !== undefined && stack.length < 6; id = parent.get(id)) {
        const frame = byId.get(id).callFrame;
        hit ||= frame.functionName === callersOf;
        if (hit) stack.push(keyOf(frame));
      }
      if (hit) add(callers, stack.join(' < '), us);
    }
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const key = keyOf(byId.get(id).callFrame);
      if (seen.has(key)) continue;
      add(total, key, us);
      seen.add(key);
    }
  }
  const ms = (us) => (us / 1000).toFixed(1).padStart(9);
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const each = (us) => (per > 0 ? `${(us / per).toFixed(2).padStart(8)} µs/each` : '');
  console.log(`\n${file}: ${ms(all)} ms sampled, ${ms(busy)} ms busy (not idle)`);
  console.log('\nself time by area');
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1])) {
    if (area !== 'idle') console.log(`${ms(us)} ms ${pct(us)} ${each(us)}  ${area}`);
  }
  const tables = [
    { title: 'self time by function', times: self },
    { title: 'total time by function', times: total },
  ];
  if (callersOf !== null) tables.push({ title: `stacks through ${callersOf}`, times: callers });
  for (const { title, times } of tables) {
    console.log(`\n${title} (top ${top})`);
    for (const [key, us] of Array.from(times.entries())
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)) {
      console.log(`${ms(us)} ms ${pct(us)} ${each(us)}  ${key}`);
    }
  }
}

for (const file of args) summarize(file);
