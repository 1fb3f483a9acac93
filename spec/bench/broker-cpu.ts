/**
 * CPU time of the services a scenario runs on, when they run on this machine: the RabbitMQ node
 * (its Erlang VM, beam.smp) and Redis (redis-server), read from /proc/<pid>/stat, so a
 * scenario's cost to each is measured beside its producer's and worker's. On a 2-core machine
 * their CPU is what bounds throughput: every millisecond a scenario makes them spend is one
 * they cannot spend on the next message. Linux only; a remote service (or no /proc) reads
 * nothing and its column stays empty.
 */
import { readFileSync } from 'node:fs';
import { listPids, readProcStat } from './proc-stat.js';

/** The services measured: how each is recognised among local processes. */
const SERVICES = {
  broker: (comm: string, cmdline: string) => comm === 'beam.smp' && cmdline.includes('rabbit'),
  redis: (comm: string) => comm === 'redis-server',
};
type Service = keyof typeof SERVICES;

/** CPU each local service spent over a scenario's measured work, ms (absent: not read). */
export interface ServiceCpu {
  brokerCpuMs?: number;
  redisCpuMs?: number;
}

/** The pid of the local process of `service`, if there is exactly one. */
function findPid(service: Service): number | null {
  const pids = listPids().filter((pid) => {
    try {
      return SERVICES[service](readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false; // gone meanwhile, or not ours to read
    }
  });
  return pids.length === 1 ? pids[0] : null;
}

/** user + system CPU of the process so far, ms; null when it cannot be read. */
function cpuMsOf(pid: number): number | null {
  const stat = readProcStat(pid);
  return stat === null ? null : stat.userMs + stat.systemMs;
}

/**
 * Starts reading one service (its processes `pids`, else the one found locally); the returned
 * function gives the ms they spent since, or undefined.
 */
function meter(service: Service, pids?: readonly number[]): () => number | undefined {
  const found = findPid(service);
  const measured = pids ?? (found === null ? [] : [found]);
  const start = measured.map(cpuMsOf);
  return () => {
    if (measured.length === 0 || start.some((ms) => ms === null)) return undefined;
    let spent = 0;
    for (const [i, pid] of measured.entries()) {
      const end = cpuMsOf(pid);
      // A restarted or killed service (another pid, or a count that went back) reads nothing.
      if (end === null || end < start[i]!) return undefined;
      spent += end - start[i]!;
    }
    return spent;
  };
}

/**
 * Starts a reading of the local services' CPU; the returned function gives what each spent
 * since. `brokerPids`: the broker's Erlang VMs when they are not the one local node (a cluster's
 * nodes, summed).
 */
export function serviceCpuMeter(brokerPids?: readonly number[]): () => ServiceCpu {
  const broker = meter('broker', brokerPids);
  const redis = meter('redis');
  return () => {
    const reading: ServiceCpu = {};
    const brokerCpuMs = broker();
    const redisCpuMs = redis();
    if (brokerCpuMs !== undefined) reading.brokerCpuMs = brokerCpuMs;
    if (redisCpuMs !== undefined) reading.redisCpuMs = redisCpuMs;
    return reading;
  };
}
