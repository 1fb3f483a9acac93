import type { Argv } from 'yargs';
import { celerySeconds } from '../seconds-option.js';

/** Options shared by inspect, control and events: which broker, which nodes, how long. */
export interface RemoteArgs {
  app?: string;
  broker?: string;
  backend?: string;
  destination?: string;
  timeout: string;
  json: boolean;
}

export function remoteOptions<T>(y: Argv<T>): Argv<T & RemoteArgs> {
  return y
    .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (for its broker/backend settings)' })
    .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" })
    .option('backend', { type: 'string', describe: "Result backend URL (default $CELERIAC_RESULT_BACKEND or the app's)" })
    .option('destination', { alias: 'd', type: 'string', describe: 'Comma-separated node names, e.g. celeriac@host (default: all)' })
    .option('timeout', {
      alias: 't',
      type: 'string',
      default: '1s',
      describe: 'How long to wait for replies: seconds as Celery (-t 5), or with a unit (500ms, 2m)',
      coerce: (value: unknown) => String(celerySeconds(value)),
    })
    .option('json', {
      alias: 'j',
      type: 'boolean',
      default: false,
      describe: "Print the replies as JSON, as Celery's -j: one object by node name (control: a list of one-node objects)",
    }) as Argv<T & RemoteArgs>;
}
