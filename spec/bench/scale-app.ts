/**
 * The app of the scale scenarios' processes: the bench app (celeriac-app.ts: `noop`, `sum`) and
 * one more task, `bytes`, for large arguments: it returns the length of the string it was given,
 * so the result stays small whatever the argument's size.
 */
import { createBenchApp, type CeleriacBenchConfig } from './celeriac-app.js';

export const BYTES_TASK = 'bench.bytes';

export function createScaleApp(config: Pick<CeleriacBenchConfig, 'amqpUrl' | 'backendUrl' | 'queue'>) {
  const bench = createBenchApp(config);
  const bytes = bench.app.task(BYTES_TASK, (payload: string) => payload.length);
  return { ...bench, bytes };
}
