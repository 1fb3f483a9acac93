import type { ResultBackend } from '../backends/result-backend.js';
import type { ResultHandle } from './result-handle.js';
import { AsyncResult, type GetOptions } from './async-result.js';

/**
 * The results of a group, in group order. `get()` resolves with every member's value in that
 * order (or rejects with the first failure, as Celery's join does); `save()` stores the member
 * ids under the group id in Celery's format so `GroupResult.restore(app, id)` — or Python's
 * `GroupResult.restore(id)` — can rebuild it elsewhere.
 */
export class GroupResult<R extends unknown[] = unknown[]> implements ResultHandle<R> {
  constructor(
    readonly id: string,
    readonly results: readonly ResultHandle[],
    private readonly backend: () => ResultBackend,
    readonly parent: ResultHandle | null = null,
  ) {}

  /** Rebuilds a saved group's results; null when no group is saved under `id`. */
  static async restore<R extends unknown[] = unknown[]>(app: { backend: ResultBackend }, id: string): Promise<GroupResult<R> | null> {
    const backend = () => app.backend;
    const ids = await backend().restoreGroup(id);
    return ids === null
      ? null
      : new GroupResult<R>(
          id,
          ids.map((taskId) => new AsyncResult(taskId, backend)),
          backend,
        );
  }

  async get(options: GetOptions = {}): Promise<R> {
    return (await Promise.all(this.results.map((result) => result.get(options)))) as R;
  }

  async ready(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.ready()))).every(Boolean);
  }

  async successful(): Promise<boolean> {
    return (await Promise.all(this.results.map((r) => r.successful()))).every(Boolean);
  }

  /** How many members are in a final state. */
  async completedCount(): Promise<number> {
    return (await Promise.all(this.results.map((r) => r.ready()))).filter(Boolean).length;
  }

  async save(): Promise<void> {
    await this.backend().saveGroup(
      this.id,
      this.results.map((r) => r.id),
    );
  }

  /** Forgets every member's result and the saved group. */
  async forget(): Promise<void> {
    await Promise.all([...this.results.map((r) => r.forget()), this.backend().forgetGroup(this.id)]);
  }

  toJSON(): string {
    return this.id;
  }
}
