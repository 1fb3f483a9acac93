/**
 * Resident memory of another process as Linux reports it (/proc/<pid>/status), read from
 * outside so the measured process runs no sampler of its own. Linux only.
 */
import { readFile } from 'node:fs/promises';

/** One reading, kB. rssKb = anonKb + fileKb + shared memory (RssShmem, not kept). */
export interface MemorySample {
  /** VmRSS: all resident pages. */
  rssKb: number;
  /** RssAnon: heap, stacks, the V8 heap: what the process itself allocated. */
  anonKb: number;
  /** RssFile: resident pages of mapped files, mostly the node binary and shared libraries. */
  fileKb: number;
}

export async function readMemory(pid: number): Promise<MemorySample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s*(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Number(match[1]);
  };
  return { rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), fileKb: kb('RssFile') };
}

export const megabytes = (kb: number): string => (kb / 1024).toFixed(1);
