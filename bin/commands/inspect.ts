import type { CommandModule } from 'yargs';
import { INSPECT_METHODS, type InspectMethod } from '../../lib/index.js';
import { remoteOptions, type RemoteArgs } from './remote-options.js';

export interface InspectArgs extends RemoteArgs {
  method: InspectMethod;
}

/** `celeriac inspect`: its options here; what it does is ../handlers/inspect.ts, imported when it runs. */
export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <method>',
  describe: 'Ask workers (celeriac and Python Celery) about their state',
  builder: (y) =>
    remoteOptions(y)
      .positional('method', { choices: INSPECT_METHODS, demandOption: true, describe: 'What to ask' })
      .example('$0 inspect ping', 'list the workers that answer within 1 s')
      .example('$0 inspect active -d celeriac@web1', 'tasks running on one worker'),
  handler: async (args) => (await import('../handlers/inspect.js')).runInspect(args),
};
