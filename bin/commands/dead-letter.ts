import type { Argv, CommandModule } from 'yargs';

export interface CommonArgs {
  queues?: string;
  app?: string;
  broker?: string;
  backend?: string;
}

export interface ListArgs extends CommonArgs {
  limit: number;
  json: boolean;
}

export interface RequeueArgs extends CommonArgs {
  id?: string[];
  all: boolean;
  force: boolean;
}

function common<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('queues', {
      alias: 'Q',
      type: 'string',
      describe: "Comma-separated task queues whose <queue>.dead-letter to read (default: the app's default queue)",
    })
    .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (its broker, backend and default queue)' })
    .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" })
    .option('backend', {
      type: 'string',
      describe: "Result backend URL, to reset redelivery counts on requeue (default $CELERIAC_RESULT_BACKEND or the app's)",
    });
}

const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'Show dead-lettered messages (task, id, reason, error, queue, when) without removing them',
  builder: (y) =>
    common(y)
      .option('limit', { type: 'number', default: 100, describe: 'Most messages shown per queue' })
      .option('json', { type: 'boolean', default: false, describe: 'Print a JSON array of messages' }),
  handler: async (args) => (await import('../handlers/dead-letter.js')).runList(args),
};

const requeueCommand: CommandModule<object, RequeueArgs> = {
  command: 'requeue',
  describe: 'Send dead-lettered messages back to the queue they came from (dead-letter headers and redelivery counts cleared)',
  builder: (y) =>
    common(y)
      .option('id', { type: 'string', array: true, describe: 'Task id(s) to re-queue' })
      .option('all', { type: 'boolean', default: false, describe: 'Re-queue every dead-lettered message' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .example('$0 dead-letter requeue -Q images --id 5f0c... --force', 're-queue one task'),
  handler: async (args) => (await import('../handlers/dead-letter.js')).runRequeue(args),
};

/**
 * `celeriac dead-letter list|requeue`: the options here; what they do is ../handlers/dead-letter.ts,
 * imported when one runs.
 */
export const deadLetterCommand: CommandModule = {
  command: 'dead-letter <command>',
  describe: 'List and re-queue dead-lettered messages (<queue>.dead-letter)',
  builder: (y) => y.command(listCommand).command(requeueCommand).demandCommand(1, 'Name a sub-command: list or requeue.'),
  handler: () => undefined,
};
