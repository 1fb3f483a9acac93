/**
 * The tasks module that spec/integration/chord-crash.test.ts runs `celeriac worker -A` on: slow
 * chord header tasks and a body that records every run in a file, outside the result backend.
 *
 * Configured from the environment, so the worker processes and the spec build the same app:
 *
 *   CHORD_CRASH_BROKER        amqp URL
 *   CHORD_CRASH_BACKEND       redis://… or rpc://
 *   CHORD_CRASH_QUEUE         the queue every task goes to
 *   CHORD_CRASH_LOG           a file: one line per header task start and end, and per body run
 *   CHORD_CRASH_DIE_ON_CLAIM  when "1", the process SIGKILLs itself right after its chord report
 *                             claimed the completed header — before the body is sent (a test hook
 *                             of this module only: it wraps the backend's chordPartReturn)
 */
import { appendFileSync } from 'node:fs';
import { createApp, type App } from '../../lib/index.js';
import type { ChordPart } from '../../lib/backends/result-backend.js';

export interface ChordCrashConfig {
  broker: string;
  backend: string;
  queue: string;
  log: string;
  dieOnClaim: boolean;
}

/** A line of the log file. */
export type ChordCrashEvent =
  | { event: 'start' | 'end'; pid: number; index: number; taskId: string }
  | { event: 'body'; pid: number; results: number[]; taskId: string };

export function createChordCrashApp(config: ChordCrashConfig) {
  const app: App = createApp({
    name: 'chord-crash',
    broker: config.broker,
    backend: config.backend,
    defaultQueue: config.queue,
    logLevel: 'warn',
  });
  const record = (event: ChordCrashEvent): void => appendFileSync(config.log, `${JSON.stringify(event)}\n`);

  /** A header task: takes `ms`, returns index × 10. */
  const slow = app.task('crash.slow', async function (index: number, ms: number) {
    const taskId = this.id;
    record({ event: 'start', pid: process.pid, index, taskId });
    await new Promise((resolve) => setTimeout(resolve, ms));
    record({ event: 'end', pid: process.pid, index, taskId });
    return index * 10;
  });

  /** The body: every run leaves a line, so a second run cannot hide behind the stored result. */
  const collect = app.task('crash.collect', function (results: number[]) {
    record({ event: 'body', pid: process.pid, results, taskId: this.id });
    return results.reduce((sum, n) => sum + n, 0);
  });

  if (config.dieOnClaim) {
    const backend = app.backend;
    const report = backend.chordPartReturn.bind(backend);
    backend.chordPartReturn = async (part: ChordPart) => {
      const outcomes = await report(part);
      if (outcomes) process.kill(process.pid, 'SIGKILL');
      return outcomes;
    };
  }
  return { app, slow, collect };
}

function fromEnv(): ChordCrashConfig {
  const env = process.env;
  return {
    broker: env.CHORD_CRASH_BROKER ?? 'amqp://guest:guest@127.0.0.1:5672',
    backend: env.CHORD_CRASH_BACKEND ?? 'redis://127.0.0.1:6379/0',
    queue: env.CHORD_CRASH_QUEUE ?? 'chord-crash',
    log: env.CHORD_CRASH_LOG ?? '/dev/null',
    dieOnClaim: env.CHORD_CRASH_DIE_ON_CLAIM === '1',
  };
}

export default createChordCrashApp(fromEnv()).app;
