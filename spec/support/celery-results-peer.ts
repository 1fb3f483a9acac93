import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { ResultBackend } from '../../lib/backends/result-backend.js';
import { meta } from '../conformance/backend.conformance.js';
import { findPython } from './python.js';

/**
 * Has Python Celery read a result celeriac stored and store one celeriac reads, through the same
 * Redis deployment: stores `{ from: 'node' }` under a new id through `backend`, runs `script`
 * (lines of Python, `python -c`) with `args` and then two ids (`sys.argv[-2]`: the one to read and
 * print as JSON on the first line of output; `sys.argv[-1]`: the one to store `{"from": "python"}`
 * under), and checks both ways. Resolves with the script's further output lines.
 */
export async function shareResultsWithCelery(backend: ResultBackend, script: string[], args: string[]): Promise<string[]> {
  const [fromNode, fromPython] = [randomUUID(), randomUUID()];
  await backend.storeResult(meta(fromNode, 'SUCCESS', { from: 'node' }), {});
  const run = spawnSync(findPython(), ['-c', script.join('\n'), ...args, fromNode, fromPython], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const [read, ...rest] = run.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(read), { from: 'node' }, 'Python read the result celeriac stored');
  const stored = await backend.getMeta(fromPython);
  assert.equal(stored.status, 'SUCCESS');
  assert.deepEqual(stored.result, { from: 'python' }, 'celeriac read the result Python stored');
  return rest;
}
