import type { CommandModule } from 'yargs';
import { remoteOptions, type RemoteArgs } from './remote-options.js';

/** `celeriac status`: its options here; what it does is ../handlers/status.ts, imported when it runs. */
export const statusCommand: CommandModule<object, RemoteArgs> = {
  command: 'status',
  describe: "List the workers (celeriac and Python Celery) that answer a ping (Celery's `celery status`)",
  builder: (y) =>
    remoteOptions(y)
      .example('$0 status', 'the nodes online; exit status 69 (EX_UNAVAILABLE) when none answers, as Celery')
      .example('$0 status -t 5s', 'wait longer for busy workers'),
  handler: async (args) => (await import('../handlers/status.js')).runStatus(args),
};
