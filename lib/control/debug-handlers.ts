import { countArgument, ArgumentError } from './handler-arguments.js';
import { type Handler, nok } from './handler-state.js';

/** Most memsample readings kept for memdump (older ones are dropped first). */
export const MAX_MEMORY_SAMPLES = 1000;

/** One memsample reading, in bytes. */
interface MemorySample {
  rss: number;
  heapUsed: number;
}

const samples: MemorySample[] = [];

/**
 * Celery's memory-debugging commands with Node's figures: memsample records the process RSS
 * and V8 heap in use and answers the RSS as Celery's text ('45.213MB'); memdump answers
 * Celery's text report of the recorded readings (at most `samples` of them, evenly spread) and
 * the figures now, then forgets the readings, as Celery does. objgraph is Python's object-graph
 * tool: answered as not supported.
 */
export const DEBUG_HANDLERS: Record<string, Handler> = {
  memsample: () => {
    const { rss, heapUsed } = process.memoryUsage();
    samples.push({ rss, heapUsed });
    if (samples.length > MAX_MEMORY_SAMPLES) samples.shift();
    return humanBytes(rss);
  },
  memdump: (_state, args) => {
    const wanted = countArgument(args, 'samples', 10);
    const taken = spread(samples.splice(0), wanted);
    const now = process.memoryUsage();
    const lines: string[] = [];
    if (taken.length > 0) {
      lines.push('- rss (sample):', ...taken.map((s) => `-    > ${humanBytes(s.rss)},`));
      lines.push('- heap used (sample):', ...taken.map((s) => `-    > ${humanBytes(s.heapUsed)},`));
    }
    lines.push(`- rss (end): ${humanBytes(now.rss)}.`, `- heap used (end): ${humanBytes(now.heapUsed)}.`);
    return `${lines.join('\n')}\n`;
  },
  objgraph: (_state, args) => {
    if (args.type !== undefined && args.type !== null && typeof args.type !== 'string') {
      throw new ArgumentError('type', 'an object type name, or null', args.type);
    }
    return nok(
      'objgraph is not supported by celeriac workers (it graphs Python objects): use memsample and memdump, or a Node heap snapshot',
    );
  },
};

/** `n` readings evenly spread over `all` (all of them when there are no more than `n`). */
function spread<T>(all: T[], n: number): T[] {
  if (all.length <= n) return all;
  return Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]);
}

/** Celery's humanbytes: '512b', '1.5KB', '45.213MB' (five significant digits, no trailing zeros). */
export function humanBytes(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'TB'],
    [2 ** 30, 'GB'],
    [2 ** 20, 'MB'],
    [2 ** 10, 'KB'],
  ];
  for (const [size, unit] of units) if (bytes >= size) return `${Number((bytes / size).toPrecision(5))}${unit}`;
  return `${bytes}b`;
}
