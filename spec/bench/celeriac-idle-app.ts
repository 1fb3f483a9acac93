/**
 * The -A module of celeriac-idle (idle.ts runs `celeriac worker -A` on this file, compiled): the
 * bench app (celeriac-app.ts) with the broker, backend and queue that idle.ts puts in the
 * environment, since -A takes only a module path.
 */
import { createBenchApp } from './celeriac-app.js';

/** The worker process's environment, as idle.ts sets it. */
export interface IdleAppEnv {
  BENCH_AMQP_URL: string;
  BENCH_BACKEND_URL: string;
  BENCH_QUEUE: string;
}

function fromEnv(name: keyof IdleAppEnv): string {
  const value = process.env[name];
  if (!value) throw new Error(`celeriac-idle-app: ${name} is not set (the celeriac-idle scenario sets it)`);
  return value;
}

export const { app } = createBenchApp({
  amqpUrl: fromEnv('BENCH_AMQP_URL'),
  backendUrl: fromEnv('BENCH_BACKEND_URL'),
  queue: fromEnv('BENCH_QUEUE'),
});
