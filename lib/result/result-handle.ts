import type { GetOptions } from './async-result.js';

/** A handle on the outcome of any canvas node (AsyncResult or GroupResult): AsyncResult or GroupResult. */
export interface ResultHandle<R = unknown> {
  readonly id: string;
  readonly parent: ResultHandle | null;
  get(options?: GetOptions): Promise<R>;
  ready(): Promise<boolean>;
  successful(): Promise<boolean>;
  forget(): Promise<void>;
}
