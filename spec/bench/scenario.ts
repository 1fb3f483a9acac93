/** What every bench scenario takes and returns, and the process choreography they share. */
import { randomBytes } from 'node:crypto';
import type { DeliveryMode } from '../../lib/canvas/call-options.js';
import { serviceCpuMeter, type ServiceCpu } from './broker-cpu.js';
import type { BenchChild } from './child.js';
import type { LatencySummary, ProcessStats, WorkReport } from './ipc.js';
import type { MemorySample } from './proc-memory.js';

export interface BenchOptions {
  /** Tasks (messages) per scenario. */
  n: number;
  amqpUrl: string;
  /** Result backend for the celeriac scenarios. */
  backendUrl: string;
  /** Worker concurrency for celeriac; with prefetchMultiplier gives the prefetch both sides use. */
  concurrency: number;
  prefetchMultiplier: number;
  /** celeriac's app option of that name (null: no limit, the default). */
  maxUnconfirmedPublishes: number | null;
  /** celeriac's app option taskDeliveryMode ('persistent', the default, or 'transient'). */
  taskDeliveryMode: DeliveryMode;
  /** Upper bound on a scenario's measured work. */
  timeoutMs: number;
  /** celeriac-countdown: countdowns are spread over this many ms. */
  windowMs: number;
  /** The scale scenarios (scale.ts) run this fraction of their full sizes (--scale-factor; default 1). */
  scaleFactor?: number;
  /** The broker's Erlang VMs, when it is not the one local node (a cluster's: cluster.ts); its CPU column sums them. */
  brokerPids?: readonly number[];
  onProgress: (label: string, text: string) => void;
}

/** The run's Redis: its backend (--backend) when that is Redis, else Redis on this machine. */
export function redisUrlOf(options: BenchOptions): string {
  return /^rediss?:/.test(options.backendUrl) ? options.backendUrl : 'redis://127.0.0.1:6379/0';
}

/** A scenario's floors: `floor` first, then `otherFloors`; empty for one read against none. */
export function floorsOf(scenario: Pick<Scenario, 'floor' | 'otherFloors'>): string[] {
  return scenario.floor ? [scenario.floor, ...(scenario.otherFloors ?? [])] : [];
}

export function prefetchOf(options: BenchOptions): number {
  return options.concurrency * options.prefetchMultiplier;
}

export interface ScenarioResult {
  name: string;
  /** The raw floor scenario this one is compared with, if any (set by the runner). */
  floor?: string;
  /** Further floors it is compared with in the same rounds (set by the runner). */
  otherFloors?: readonly string[];
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  /** Per-task send → result latency; only where a result comes back. */
  latency?: LatencySummary;
  /** The process that publishes (and collects results). */
  producer?: ProcessStats;
  /** The process that consumes (and replies). */
  worker?: ProcessStats;
  /** CPU the local RabbitMQ node spent over the measured work ('go' → last report), ms; absent for a remote broker. */
  brokerCpuMs?: number;
  /** The same for the local Redis. */
  redisCpuMs?: number;
  /** Tasks the CPU figures cover, when not `tasks` (e.g. a chord scenario's group + chord). */
  cpuTasks?: number;
  /** Chord scenarios: wall times of the header alone (as a group) and of the chord. */
  chord?: { size: number; groupSeconds: number; chordSeconds: number };
  /** Figures a child reported beyond the columns (e.g. the producer's LONGEST_RESULT_GAP), for a scenario built on another to read. */
  extra?: Record<string, number | string>;
  /** Idle scenarios: the consumer's memory, sampled from outside while it had no work. */
  idle?: IdleMemory;
  notes: string[];
}

/** Readings of an idle process's memory taken once a second (see idle.ts). */
export interface IdleMemory {
  samples: number;
  /** The sample with the nearest-rank median VmRSS: a real reading, its anon and file parts its own. */
  median: MemorySample;
  maxRssKb: number;
}

export interface Scenario {
  name: string;
  /** One line: what is measured. */
  description: string;
  floor?: string;
  /**
   * Floors beyond `floor` this scenario is read against, each in the same rounds (the table's
   * 'vs floor' gives one ratio per floor, `floor` first); selecting the scenario runs them too.
   */
  otherFloors?: readonly string[];
  /** Runs only when named with --scenario: it takes long whatever --n is (its --window, idle sampling). */
  optIn?: boolean;
  /** Another framework (peers.ts): runs with --peers, or when named with --scenario. */
  peer?: boolean;
  run(options: BenchOptions): Promise<ScenarioResult>;
}

/** A queue name no other run or scenario uses. */
export function uniqueQueue(scenario: string): string {
  return `bench.${scenario}.${randomBytes(4).toString('hex')}`;
}

/**
 * Tasks every producer pushes through (and sees answered) before timing starts, floor and
 * celeriac alike: connections, subscriptions and the queue exist, and the hot paths have run.
 */
export const WARMUP_TASKS = 100;

/** Bound on getting a process connected and subscribed, and on stopping it. */
export const SETUP_TIMEOUT_MS = 30_000;

/** What one child of a scenario reported, its resource use, and the services' CPU over the work. */
export interface ChildRun {
  report: WorkReport;
  stats: ProcessStats;
  serviceCpu: ServiceCpu;
}

/**
 * Drives already-forked children through the lifecycle together: waits until all are ready,
 * says 'go' in the given order (consumers first, so nothing waits on a subscription), runs
 * `afterGo` (a fault to inject while they work) beside them, waits for every report, then
 * stops all and collects their stats. Returns reports and stats in the children's order.
 */
export async function runTogether(
  children: BenchChild[],
  timeoutMs: number,
  extras: { brokerPids?: readonly number[]; afterGo?: () => Promise<void> } = {},
): Promise<ChildRun[]> {
  await Promise.all(children.map((child) => child.ready(SETUP_TIMEOUT_MS)));
  const services = serviceCpuMeter(extras.brokerPids);
  for (const child of children) child.send({ type: 'go' });
  const during = extras.afterGo?.();
  const reports = await Promise.all(children.map((child) => child.report(timeoutMs)));
  await during;
  // The local services' CPU over the work ('go' → last report), the same for every child.
  const serviceCpu = services();
  const stats = await Promise.all(children.map((child) => child.stop(SETUP_TIMEOUT_MS)));
  return children.map((_, i) => ({ report: reports[i], stats: stats[i], serviceCpu }));
}

export function result(
  name: string,
  fields: Omit<ScenarioResult, 'name' | 'tasksPerSecond' | 'notes'> & { notes?: string[] },
): ScenarioResult {
  return { name, ...fields, tasksPerSecond: fields.tasks / fields.seconds, notes: fields.notes ?? [] };
}

export function rate(count: number, ms: number): string {
  return `${Math.round(count / (ms / 1000)).toLocaleString('en-US')}/s`;
}
