import type { ArgumentsCamelCase } from 'yargs';
import type { ResultArgs } from '../commands/result.js';
import { commandApp } from '../load-app.js';

/**
 * Waits until the task is ready (or --timeout passes) and prints its result — as JSON with
 * --json, else strings bare and other values as JSON — or with --traceback the traceback of its
 * failure. A failed or revoked task's error ends the command with exit status 2, as any error.
 */
export async function runResult(args: ArgumentsCamelCase<ResultArgs>): Promise<void> {
  const app = await commandApp(args, 'celeriac-result', { logLevel: 'error' });
  try {
    const result = app.asyncResult(args.id);
    const timeout = args.timeout;
    if (args.traceback) {
      await result.get({ ...(timeout ? { timeout } : {}), propagate: false });
      const meta = await result.meta();
      if (meta.traceback) process.stdout.write(meta.traceback.replace(/\n?$/, '\n'));
      else process.stderr.write(`task ${args.id} has no traceback (${meta.status})\n`);
      return;
    }
    const value = await result.get(timeout ? { timeout } : {});
    process.stdout.write(`${typeof value === 'string' && !args.json ? value : JSON.stringify(value)}\n`);
  } finally {
    await app.close();
  }
}
