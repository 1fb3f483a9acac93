import type { ArgumentsCamelCase } from 'yargs';
import type { DemoArgs } from '../commands/demo.js';

/** Runs the walkthrough's tasks, chain, group and chord through an in-process worker and prints their results. */
export async function runDemo(args: ArgumentsCamelCase<DemoArgs>): Promise<void> {
  // The example tasks module reads these when it is imported, so set them first.
  process.env.CELERIAC_BROKER_URL = args.broker || process.env.CELERIAC_BROKER_URL || 'memory://demo';
  process.env.CELERIAC_RESULT_BACKEND = args.backend || process.env.CELERIAC_RESULT_BACKEND || 'memory://demo';
  const { app, add, multiply, addAll } = await import('../../lib/examples/tasks.js');
  const { chain, chord, group } = await import('../../lib/index.js');
  app.logger.level = args.loglevel === 'silent' ? 'error' : args.loglevel;
  app.logger.silent = args.loglevel === 'silent';
  const worker = app.worker({ concurrency: 4, hostname: 'demo@%h' });
  const print = (label: string, value: unknown): void => {
    process.stdout.write(`${label.padEnd(58)} → ${JSON.stringify(value)}\n`);
  };
  process.stdout.write(`celeriac demo: broker ${app.transport.url}, results ${app.backend.url}\n`);
  try {
    await worker.start();
    const sum = await add.delay(2, 3);
    print(`add.delay(2, 3)  [${sum.id}]`, await sum.get({ timeout: '10s' }));
    const product = await multiply.delay(6, 7);
    print(`multiply.delay(6, 7)  [${product.id}]`, await product.get({ timeout: '10s' }));
    const keyword = await add.applyAsync([1], { y: 2 });
    print('add.applyAsync([1], { y: 2 })', await keyword.get({ timeout: '10s' }));
    const chained = await chain(multiply.s(2, 2), add.s(10)).applyAsync();
    print('chain(multiply.s(2, 2), add.s(10))', await chained.get({ timeout: '10s' }));
    const grouped = await group(multiply.s(2, 2), multiply.s(3, 2)).applyAsync();
    print('group(multiply.s(2, 2), multiply.s(3, 2))', await grouped.get({ timeout: '10s' }));
    const chorded = await chord([multiply.s(2, 2), multiply.s(3, 2)], addAll.s()).applyAsync();
    print('chord([multiply.s(2, 2), multiply.s(3, 2)], addAll.s())', await chorded.get({ timeout: '10s' }));
  } finally {
    await worker.stop();
    await app.close();
  }
}
