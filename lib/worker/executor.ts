import type { Task } from '../app/task.js';
import { runWithContext, type TaskContext } from '../app/task-context.js';
import { listNames, MAX_ERROR_MESSAGE_CHARS, truncateText } from '../util/truncate.js';

/**
 * Runs a task's function with its context as `this` and as currentTask(). Keyword arguments
 * are placed by the task's `argNames` (the contract for Python-style calls with kwargs); a
 * call with kwargs the task cannot place is a TypeError, recorded as the task's failure (its
 * message names at most 20 of them: a message may carry thousands).
 * Resolves or rejects with whatever the function returns or throws (sync throws included).
 */
export async function executeTask(
  task: Task<never[]>,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  context: TaskContext,
): Promise<unknown> {
  const callArgs = placeKeywordArguments(task, args, kwargs);
  return runWithContext(context, () => (task.fn as (this: TaskContext, ...a: unknown[]) => unknown).apply(context, callArgs));
}

export function placeKeywordArguments(
  task: Pick<Task<never[]>, 'name' | 'options'>,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): unknown[] {
  const names = Object.keys(kwargs);
  if (names.length === 0) return [...args];
  const argNames = task.options.argNames;
  if (!argNames) {
    throw new TypeError(`task ${task.name} got keyword arguments (${listNames(names)}) but declares no argNames`);
  }
  const placed = [...args];
  for (const name of names) {
    const index = argNames.indexOf(name);
    if (index === -1) throw new TypeError(`task ${task.name} got an unexpected keyword argument '${nameText(name)}'`);
    if (index < args.length) throw new TypeError(`task ${task.name} got multiple values for argument '${nameText(name)}'`);
    placed[index] = kwargs[name];
  }
  for (let i = 0; i < placed.length; i++) {
    if (!(i in placed)) throw new TypeError(`task ${task.name} is missing argument '${argNames[i]}'`);
  }
  return placed;
}

/** An argument name from a message, as quoted in an error: names can be any length. */
function nameText(name: string): string {
  return truncateText(name, MAX_ERROR_MESSAGE_CHARS / 4);
}
