import type { CommandModule } from 'yargs';

export interface ReportArgs {
  app?: string;
  broker?: string;
  backend?: string;
}

/** `celeriac report`: its options here; what it does is ../handlers/report.ts, imported when it runs. */
export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report',
  describe:
    "Print versions, broker and backend URLs (passwords hidden), the app's settings and tasks, for bug reports (Celery's `celery report`)",
  builder: (y) =>
    y
      .option('app', {
        alias: 'A',
        type: 'string',
        describe: 'Module exporting the app (default $CELERIAC_APP, else an app from the environment)',
      })
      .option('broker', { type: 'string', describe: 'Broker URL when no app module is named (default $CELERIAC_BROKER_URL)' })
      .option('backend', { type: 'string', describe: 'Result backend URL when no app module is named (default $CELERIAC_RESULT_BACKEND)' })
      .example('$0 report -A ./dist/tasks.js', "the app's report")
      .example('$0 report', 'the app $CELERIAC_APP names, or one configured by the environment'),
  handler: async (args) => (await import('../handlers/report.js')).runReport(args),
};
