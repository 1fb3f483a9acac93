/**
 * Python Celery in the bench (peer scenarios, `--peers`): a bench child (see ipc.ts) that runs
 * a Python process — Celery's prefork worker, or the producer in celery_peer.py — and speaks
 * the lifecycle for it. Its CPU and RSS figures are the Python process tree's (the worker's
 * pool processes included), read from /proc, not this driver's.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startProcess } from '../support/processes.js';
import { findPython } from '../support/python.js';
import { startChild } from './child-runtime.js';
import { now } from './ipc.js';
import { summarizeLatency } from './measure.js';
import { ProcessTreeMeter } from './process-tree.js';
import { SETUP_TIMEOUT_MS } from './scenario.js';

/** What celery_peer.py reads from CELERY_PEER_CONFIG. */
export interface CeleryPeerConfig {
  role: 'worker' | 'producer';
  amqpUrl: string;
  /** redis:// URL: Celery's result backend. */
  backendUrl: string;
  queue: string;
  prefetchMultiplier: number;
  /** worker: pool processes. */
  concurrency: number;
  n: number;
  warmup: number;
  mode: 'roundtrip' | 'latency';
  resultTimeoutMs: number;
}

/** celery_peer.py is not compiled: from dist/spec/bench/ the source is three levels up. */
const SOURCE_DIR = new URL('../../../spec/bench/', import.meta.url).pathname;

const child = startChild<CeleryPeerConfig>();

/** Stops the process group: SIGTERM (Celery's warm shutdown), SIGKILL after 10 s, and whatever is left once the main process is gone. */
async function stopGroup(python: ChildProcess): Promise<void> {
  if (python.exitCode !== null || python.signalCode !== null) return;
  const exited = new Promise((resolve) => python.once('exit', resolve));
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-python.pid!, name);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  signal('SIGKILL'); // a pool process the main one left behind
}

child.run(async () => {
  const config = child.config;
  const python = findPython();
  const env = { ...process.env, CELERY_PEER_CONFIG: JSON.stringify(config), PYTHONUNBUFFERED: '1' };
  const args =
    config.role === 'worker'
      ? [
          '-m',
          'celery',
          '-A',
          'celery_peer',
          'worker',
          '-Q',
          config.queue,
          '-c',
          String(config.concurrency),
          '-P',
          'prefork',
          '-l',
          'WARNING',
          '--without-gossip',
          '--without-mingle',
          '--without-heartbeat',
          '-n',
          `peer-${randomBytes(4).toString('hex')}@%h`,
        ]
      : ['celery_peer.py', 'producer'];
  // A process group of its own, so stopping it stops the prefork pool too. (celery_peer.py
  // asks Linux to end it should this driver be killed before it could.)
  const peer = startProcess(python, args, { env, cwd: SOURCE_DIR, stdin: true, detached: true });
  const proc = peer.child;
  let stopping = false;
  proc.on('exit', (code, signal) => {
    if (!stopping) child.fail(new Error(`python ${config.role} exited early (${signal ?? `code ${code}`}); output:\n${peer.output()}`));
  });

  // Not anchored to a line start: the output holds stdout and stderr as their chunks came.
  await peer.waitFor(config.role === 'worker' ? /WORKER_READY\n/ : /\bREADY\n/, SETUP_TIMEOUT_MS);
  const meter = new ProcessTreeMeter(proc.pid!);
  await child.ready();
  meter.start();
  if (config.role === 'worker') {
    // The producer times the scenario; the worker's figures are its CPU and RSS to 'stop'.
    child.finished({ startedAt: now(), finishedAt: now(), count: 0 });
  } else {
    proc.stdin!.write('go\n');
    // The whole line: its newline says the JSON is complete.
    const [, json] = await peer.waitFor(/REPORT (\{.*\})\n/, config.resultTimeoutMs);
    const report = JSON.parse(json) as { startedAt: number; finishedAt: number; count: number; latencies: number[] };
    child.finished({
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      count: report.count,
      latency: summarizeLatency(Float64Array.from(report.latencies)),
    });
  }
  await child.stopped(() => meter.stats());
  stopping = true;
  if (config.role === 'producer') {
    // It deletes the run's results, then exits; a producer that does not is stopped like a worker.
    proc.stdin!.end('stop\n');
    await Promise.race([peer.exited, new Promise((resolve) => setTimeout(resolve, SETUP_TIMEOUT_MS))]);
  }
  await stopGroup(proc);
  child.exit();
});
