import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chain, chord, group, type AsyncResult, type GroupResult, type ResultHandle, type TaskContext } from '../../lib/index.js';
import { memoryApp } from '../support/apps.js';

/**
 * Type-level contract: this file only compiles (npm run build fails otherwise) while the types
 * flow as documented. Each `@ts-expect-error` line must be a type error, or tsc reports the
 * directive itself as unused.
 */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T>(_value: T): void {}
function assertEqualTypes<A, B>(_proof: Equals<A, B>): void {}

describe('types', () => {
  it('flow from the task function to delay(), s() and get()', async () => {
    const app = memoryApp();
    const add = app.task('types.add', (x: number, y: number) => x + y);
    const shout = app.task('types.shout', async function (this: TaskContext, text: string) {
      return `${text.toUpperCase()} from ${this.id}`;
    });
    const addAll = app.task('types.add_all', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));

    const compileOnly = async (): Promise<void> => {
      // @ts-expect-error a string where a number is expected
      await add.delay('a', 2);
      // @ts-expect-error too few arguments
      await add.delay(1);
      // @ts-expect-error too many arguments for si()
      add.si(1, 2, 3);
      // @ts-expect-error unknown call option
      await add.applyAsync([1, 2], {}, { countDown: 5 });

      const sum = await add.delay(2, 3);
      assertEqualTypes<typeof sum, AsyncResult<number>>(true);
      assertEqualTypes<ReturnType<typeof sum.get>, Promise<number>>(true);
      const text = await shout.delay('hi');
      assertEqualTypes<Awaited<ReturnType<typeof text.get>>, string>(true);
      // get() straight on the send, as in Celery: add.delay(2, 3).get()
      assertEqualTypes<ReturnType<ReturnType<typeof add.delay>['get']>, Promise<number>>(true);
      expectType<Promise<string>>(shout.applyAsync(['hi']).get());

      add.s(10); // a partial: the previous result comes first
      add.s();
      const chained = await chain(add.s(2, 2), add.s(10)).applyAsync();
      assertEqualTypes<typeof chained, ResultHandle<number>>(true);
      const grouped = await group(add.s(1, 1), shout.s('x')).applyAsync();
      assertEqualTypes<typeof grouped, GroupResult<[number, string]>>(true);
      const chorded = await chord([add.s(1, 1), add.s(2, 2)], addAll.s()).applyAsync();
      assertEqualTypes<typeof chorded, ResultHandle<number>>(true);
      expectType<Promise<number>>(chorded.get());
    };
    assert.equal(typeof compileOnly, 'function');
    await app.close();
  });
});
