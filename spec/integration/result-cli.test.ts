import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { runCli } from '../support/processes.js';

const REDIS_URL = 'redis://127.0.0.1:6379/0';

/** `celeriac result <id>` against values stored the way Python Celery 5.2 stores them. */
describe('celeriac result', () => {
  const redis = new Redis(REDIS_URL);
  const ids: string[] = [];
  after(async () => {
    if (ids.length) await redis.del(...ids.map((id) => `celery-task-meta-${id}`));
    redis.disconnect();
  });

  async function store(meta: Record<string, unknown>): Promise<string> {
    const id = randomUUID();
    ids.push(id);
    await redis.set(
      `celery-task-meta-${id}`,
      JSON.stringify({ task_id: id, children: [], date_done: new Date().toISOString(), traceback: null, ...meta }),
      'EX',
      600,
    );
    return id;
  }
  const result = (...args: string[]) => runCli(['result', ...args, '--backend', REDIS_URL]);

  it('prints a stored result: strings bare, other values as JSON; --json quotes strings', async () => {
    const number = await store({ status: 'SUCCESS', result: 14 });
    const text = await store({ status: 'SUCCESS', result: 'done' });
    const list = await store({ status: 'SUCCESS', result: [4, 6] });
    assert.deepEqual(await result(number), { code: 0, stdout: '14\n', stderr: '' });
    assert.equal((await result(text)).stdout, 'done\n');
    assert.equal((await result(text, '--json')).stdout, '"done"\n');
    assert.equal((await result(list)).stdout, '[4,6]\n');
  });

  it('a failure ends with its error, exit status 2; --traceback prints where it failed', async () => {
    const traceback = 'Traceback (most recent call last):\n  File "tasks.py", line 3, in boom\nZeroDivisionError: division by zero\n';
    const failed = await store({
      status: 'FAILURE',
      result: { exc_type: 'ZeroDivisionError', exc_message: ['division by zero'], exc_module: 'builtins' },
      traceback,
    });
    const plain = await result(failed);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /ended in FAILURE: ZeroDivisionError: division by zero/);
    const withTraceback = await result(failed, '--traceback');
    assert.equal(withTraceback.code, 0);
    assert.equal(withTraceback.stdout, traceback);
  });

  it('an id with no result yet waits; --timeout gives up with an error', async () => {
    const unknown = randomUUID();
    const waited = await result(unknown, '--timeout', '300ms');
    assert.equal(waited.code, 2);
    assert.match(waited.stderr, /no result for task [0-9a-f-]+ within 300 ms/);
  });
});
