/**
 * CPU time of the RabbitMQ node, when it runs on this machine: read from /proc/<pid>/stat of
 * its Erlang VM (beam.smp), so a scenario's cost to the broker is measured beside its
 * producer's and worker's. On a 2-core machine the broker's CPU is what bounds throughput: every
 * millisecond a scenario makes it spend is one the broker cannot spend on the next message.
 * Linux only; with a remote broker (or no /proc) it reads nothing and the column stays empty.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The pid of the local Erlang VM running RabbitMQ, if there is exactly one. */
function findBrokerPid(): number | null {
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'beam.smp' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rabbit');
        } catch {
          return false; // gone meanwhile, or not ours to read
        }
      })
      .map(Number);
  } catch {
    return null;
  }
  return pids.length === 1 ? pids[0] : null;
}

/** user + system CPU of the process so far, ms; null when it cannot be read. */
function cpuMsOf(pid: number): number | null {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * Starts a reading of the local broker's CPU; the returned function gives the ms it spent since,
 * or null when there is no local broker to read (or it restarted meanwhile).
 */
export function brokerCpuMeter(): () => number | null {
  const pid = findBrokerPid();
  const start = pid === null ? null : cpuMsOf(pid);
  return () => {
    if (pid === null || start === null) return null;
    const end = cpuMsOf(pid);
    return end === null || end < start ? null : end - start;
  };
}
