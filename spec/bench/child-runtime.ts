/**
 * The child side of the bench lifecycle (see ipc.ts). A bench child script does:
 *
 *   const child = startChild<MyConfig>();
 *   ...connect, declare, subscribe...
 *   await child.ready();            // resolves on 'go'; CPU accounting starts
 *   ...measured work...
 *   child.finished(report);
 *   await child.stopped();          // resolves on 'stop' after stats were sent
 *   ...close connections...
 *   child.exit();
 *
 * and wraps its main function with `child.run(main)` so any failure is reported and the
 * process exits instead of hanging the runner.
 */
import type { ChildMessage, ParentMessage, ProcessStats, WorkReport } from './ipc.js';

const RSS_SAMPLE_INTERVAL_MS = 100;

export interface Child<C> {
  readonly config: C;
  /** Sends 'ready' and resolves when the runner says 'go'. */
  ready(info?: Record<string, string>): Promise<void>;
  progress(text: string): void;
  finished(report: WorkReport): void;
  /**
   * Resolves when the runner says 'stop', after this process's stats were sent — or, given
   * `external`, the stats it returns (a child that drives other processes, e.g. Python's).
   */
  stopped(external?: () => Promise<ProcessStats>): Promise<void>;
  run(main: () => Promise<void>): void;
  /** Reports the error to the runner and exits non-zero; for failures seen in callbacks. */
  fail(error: unknown): void;
  exit(): never;
}

export function startChild<C>(): Child<C> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('bench child scripts are forked by spec/bench/run.js; do not run them directly');
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('bench child: missing JSON config argument');
  const config = JSON.parse(raw) as C;

  // Peak RSS: sampled from process start, so it includes connection setup and warm-up.
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, RSS_SAMPLE_INTERVAL_MS);
  sampler.unref();

  let cpuAtGo: NodeJS.CpuUsage | undefined;
  const waiting = new Map<ParentMessage['type'], () => void>();
  const arrived = new Set<ParentMessage['type']>();
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'go') cpuAtGo = process.cpuUsage();
    arrived.add(message.type);
    waiting.get(message.type)?.();
  });
  // The runner went away (crashed or killed): nothing will ever say 'stop'.
  process.on('disconnect', () => process.exit(2));

  // Resolves once the message is handed to the IPC channel, so exiting right after loses nothing.
  const post = (message: ChildMessage): Promise<void> =>
    new Promise((resolve) => {
      send(message, undefined, undefined, () => resolve());
    });
  const when = (type: ParentMessage['type']): Promise<void> =>
    arrived.has(type) ? Promise.resolve() : new Promise((resolve) => waiting.set(type, resolve));

  const readStats = (): ProcessStats => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const cpu = process.cpuUsage(cpuAtGo);
    return { cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, peakRssBytes: peakRss };
  };

  let failing = false;
  const fail = (error: unknown): void => {
    if (failing) return;
    failing = true;
    const err = error instanceof Error ? error : new Error(String(error));
    // Exit even if the IPC channel is already gone and the callback never comes.
    setTimeout(() => process.exit(1), 1000);
    // Not awaited: fail() is a synchronous handler, and the process exits once the report is sent.
    void post({ type: 'error', message: err.message, stack: err.stack }).finally(() => process.exit(1));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  return {
    config,
    async ready(info) {
      await post({ type: 'ready', info });
      await when('go');
    },
    progress(text) {
      void post({ type: 'progress', text });
    },
    finished(report) {
      void post({ type: 'finished', report });
    },
    async stopped(external) {
      await when('stop');
      await post({ type: 'stats', stats: external ? await external() : readStats() });
    },
    run(main) {
      main().catch(fail);
    },
    fail,
    exit() {
      process.exit(0);
    },
  };
}
