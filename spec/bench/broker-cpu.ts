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

/** Starts reading one service; the returned function gives the ms it spent since, or undefined. */
function meter(service: Service): () => number | undefined {
  const pid = findPid(service);
  const start = pid === null ? null : cpuMsOf(pid);
  return () => {
    if (pid === null || start === null) return undefined;
    const end = cpuMsOf(pid);
    // A restarted service (another pid, or a count that went back) reads nothing.
    return end === null || end < start ? undefined : end - start;
  };
}

/** Starts a reading of the local services' CPU; the returned function gives what each spent since. */
export function serviceCpuMeter(): () => ServiceCpu {
  const broker = meter('broker');
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
