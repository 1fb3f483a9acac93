import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CeleriacError, ThreadPoolError } from '../../lib/errors/errors.js';
import { createLogger } from '../../lib/log/logger.js';
import type { PoolJob } from '../../lib/worker/pool/pool.js';
import { deserializeError, serializeError } from '../../lib/worker/pool/thread-protocol.js';
import { ThreadPool } from '../../lib/worker/pool/threads.js';
import type { TaskContext } from '../../lib/app/task-context.js';
import type { Task } from '../../lib/app/task.js';
import { app, echo, quit } from '../support/thread-exit-app.js';

const APP_MODULE = new URL('../support/thread-exit-app.js', import.meta.url).href;
/** A module that exports no app. */
const NO_APP_MODULE = new URL('../support/json-lines.js', import.meta.url).href;

function job(task: Pick<Task, 'name'>, args: unknown[] = []): PoolJob {
  const abort = new AbortController();
  const context = {
    id: `id-${task.name}`,
    name: task.name,
    retries: 0,
    hostname: 'spec@threads',
    rootId: `id-${task.name}`,
    parentId: null,
    groupId: null,
    queue: 'spec',
    redelivered: false,
    args,
    kwargs: {},
    signal: abort.signal,
  } as unknown as TaskContext;
  return { task: task as Task<never[]>, args, kwargs: {}, context, abort, limits: { hardMs: null, softMs: null } };
}

function isThreadPoolError(reason: string, message: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ThreadPoolError, `a ThreadPoolError, got ${String(error)}`);
    assert.ok(error instanceof CeleriacError);
    assert.equal(error.code, 'CELERIAC_THREAD_POOL');
    assert.equal(error.reason, reason);
    assert.match(error.message, message);
    return true;
  };
}

describe('threads pool failures are ThreadPoolErrors', () => {
  const logger = createLogger({ level: 'silent' });
  const pools: ThreadPool[] = [];
  const pool = (module: string, size = 1): ThreadPool => {
    const made = new ThreadPool(module, size, logger);
    pools.push(made);
    return made;
  };
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await app.close();
  });

  it('a thread that exits while running a task: thread-exited, with its exit code', async () => {
    const threads = pool(APP_MODULE);
    await assert.rejects(threads.run(job(quit)), isThreadPoolError('thread-exited', /^task thread exited \(code 3\)$/));
    assert.equal(await threads.run(job(echo, [7])), 7, 'the next job gets a fresh thread');
  });

  it("a task the thread's app does not have: unknown-task, rebuilt on this side of the thread", async () => {
    await assert.rejects(
      pool(APP_MODULE).run(job({ name: 'spec.thread-exit.nope' })),
      isThreadPoolError('unknown-task', /task spec\.thread-exit\.nope is not registered in the thread's app/),
    );
  });

  it('an app module that exports no app: no-app', async () => {
    await assert.rejects(pool(NO_APP_MODULE).run(job(echo, [1])), isThreadPoolError('no-app', /exports no app$/));
  });

  it('more jobs at once than threads: too-many-jobs', async () => {
    const threads = pool(APP_MODULE, 1);
    const first = threads.run(job(echo, [1]));
    await assert.rejects(threads.run(job(echo, [2])), isThreadPoolError('too-many-jobs', /more than 1 jobs at once/));
    assert.equal(await first, 1);
  });

  it('crosses the thread boundary with its class and reason', () => {
    const rebuilt = deserializeError(structuredClone(serializeError(new ThreadPoolError('no-app', 'x exports no app'))));
    assert.ok(rebuilt instanceof ThreadPoolError);
    assert.equal(rebuilt.reason, 'no-app');
    assert.equal(rebuilt.message, 'x exports no app');
    const plain = deserializeError({ name: 'ThreadPoolError', message: 'a task of its own by that name' });
    assert.ok(!(plain instanceof ThreadPoolError), 'a task error merely named so stays a plain Error');
  });
});
