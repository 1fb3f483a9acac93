import type { CommandModule } from 'yargs';

export interface ResultArgs {
  id: string;
  traceback: boolean;
  timeout?: string;
  json: boolean;
  app?: string;
  backend?: string;
}

/** `celeriac result`: its options here; what it does is ../handlers/result.ts, imported when it runs. */
export const resultCommand: CommandModule<object, ResultArgs> = {
  command: 'result <id>',
  describe: "Print a task's result from the result backend, waiting until it is ready (Celery's `celery result`)",
  builder: (y) =>
    y
      .positional('id', { type: 'string', demandOption: true, describe: 'Task id' })
      .option('traceback', { type: 'boolean', default: false, describe: "Print the failed task's traceback instead of its result" })
      .option('timeout', {
        alias: 't',
        type: 'string',
        describe: 'Give up after this long (ms or 10s, 5m, ...); default: wait, as Celery does',
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (for its backend settings)' })
      .option('backend', { type: 'string', describe: "Result backend URL (default $CELERIAC_RESULT_BACKEND or the app's)" })
      .example('$0 result 3f2c0a1e-...', 'the result, once the task has one')
      .example('$0 result 3f2c0a1e-... --traceback', 'where a failed task failed'),
  handler: async (args) => (await import('../handlers/result.js')).runResult(args),
};
