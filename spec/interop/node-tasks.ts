import type { Redis } from 'ioredis';
import { currentTask, type App, type TaskContext } from '../../lib/index.js';

/** A project error class: Python sees exc_type 'QuotaExceeded' (module 'celeriac'). */
export class QuotaExceeded extends Error {}

/**
 * The node.* tasks that tasks.py declares as stubs, served by celeriac workers in the specs.
 * `argNames` is what lets Python call them with keyword arguments. `calls` records every run.
 */
export function defineNodeTasks(app: App, queue: string, redis: Redis) {
  const calls: { task: string; id: string; args: unknown[]; at: number }[] = [];
  const record = (): void => {
    const task = currentTask()!;
    calls.push({ task: task.name, id: task.id, args: [...task.args], at: Date.now() });
  };
  const tasks = {
    add: app.task(
      'node.add',
      (x: number, y: number) => {
        record();
        return x + y;
      },
      { queue, argNames: ['x', 'y'] },
    ),
    multiply: app.task(
      'node.multiply',
      (x: number, y: number) => {
        record();
        return x * y;
      },
      { queue, argNames: ['x', 'y'] },
    ),
    addAll: app.task(
      'node.add_all',
      (numbers: number[]) => {
        record();
        return numbers.reduce((sum, n) => sum + n, 0);
      },
      { queue, argNames: ['numbers'] },
    ),
    fail: app.task(
      'node.fail',
      (message: string): number => {
        record();
        throw new TypeError(message);
      },
      { queue, argNames: ['message'] },
    ),
    failCustom: app.task(
      'node.fail_custom',
      (account: string, missing: number): number => {
        record();
        throw new QuotaExceeded(`account ${account} is over quota by ${missing}`);
      },
      { queue, argNames: ['account', 'missing'] },
    ),
    inspect: app.task(
      'node.inspect',
      function (this: TaskContext, ...args: unknown[]) {
        record();
        return {
          args,
          kwargs: this.kwargs,
          id: this.id,
          retries: this.retries,
          rootId: this.rootId,
          parentId: this.parentId,
          groupId: this.groupId,
          queue: this.queue,
        };
      },
      { queue },
    ),
    /** As add, but in a chord header it waits until every other header task reported (see tasks.add_last). */
    addLast: app.task(
      'node.add_last',
      async function (this: TaskContext, x: number, y: number) {
        record();
        const group = this.groupId!;
        const size = Number(await redis.get(`celery-taskset-meta-${group}.s`));
        const deadline = Date.now() + 20_000;
        while ((await redis.zcard(`celery-taskset-meta-${group}.j`)) < size - 1) {
          if (Date.now() > deadline) throw new Error('the other header tasks did not report');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return x + y;
      },
      { queue, argNames: ['x', 'y'] },
    ),
  };
  return { tasks, calls };
}
