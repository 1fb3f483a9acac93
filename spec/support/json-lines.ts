import { existsSync, readFileSync } from 'node:fs';

/**
 * The records of a JSON-lines file that worker processes append to (one `appendFileSync` of
 * `JSON.stringify(record) + '\n'` each), read while they may still be writing: only lines
 * already ended by their newline are parsed — a read can catch the last one half written.
 * A file not there yet holds no records.
 */
export function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop(); // '' after the last newline, or a line still being written
  return lines.filter(Boolean).map((line) => JSON.parse(line) as T);
}
