import type { CommandModule } from 'yargs';
import { celerySeconds } from '../seconds-option.js';

export interface CallArgs {
  name?: string;
  args: string;
  kwargs: string;
  chain?: string;
  group?: string;
  'chord-body'?: string;
  app?: string;
  broker?: string;
  backend?: string;
  queue?: string;
  exchange?: string;
  'routing-key'?: string;
  eta?: string;
  countdown?: string;
  expires?: string;
  priority?: number;
  serializer?: string;
  'delivery-mode'?: string;
  wait: boolean;
  timeout: string;
}

/** `celeriac call`: its options here; what it does is ../handlers/call.ts, imported when it runs. */
export const callCommand: CommandModule<object, CallArgs> = {
  command: 'call [name]',
  describe: 'Send a task, chain, group or chord; print its id, or its result with --wait',
  builder: (y) =>
    y
      .positional('name', { type: 'string', describe: 'Task name, e.g. tasks.add (not with --chain/--group)' })
      .option('args', {
        alias: 'a',
        type: 'string',
        default: '[]',
        describe: 'Positional arguments as a JSON array (for a canvas: given to its first task(s), before their own)',
      })
      .option('kwargs', { alias: 'k', type: 'string', default: '{}', describe: 'Keyword arguments as a JSON object' })
      .option('chain', { type: 'string', describe: 'A chain: JSON array of signature dicts {"task", "args", "kwargs", "options", ...}' })
      .option('group', { type: 'string', describe: 'A group (or, with --chord-body, a chord header): JSON array of signature dicts' })
      .option('chord-body', {
        type: 'string',
        describe: 'With --group: the chord body, a signature dict; it gets the list of header results first',
      })
      .option('app', { alias: 'A', type: 'string', describe: 'Module exporting the app (for its broker/backend settings)' })
      .option('broker', { type: 'string', describe: "Broker URL (default $CELERIAC_BROKER_URL or the app's)" })
      .option('backend', { type: 'string', describe: "Result backend URL (default $CELERIAC_RESULT_BACKEND or the app's)" })
      .option('queue', { alias: 'Q', type: 'string', describe: 'Queue to send to (for a canvas: of every task whose dict names none)' })
      .option('exchange', { type: 'string', describe: 'Exchange to publish to (with --routing-key; default: routed by --queue)' })
      .option('routing-key', { type: 'string', describe: 'Routing key to publish with' })
      .option('eta', { type: 'string', describe: 'When the task may start: an ISO 8601 date-time, e.g. 2030-01-01T09:00:00Z' })
      .option('countdown', {
        type: 'string',
        describe: 'Delay before the task may start: seconds as Celery (--countdown 10), or with a unit (500ms, 5m)',
        coerce: (value: unknown) => String(celerySeconds(value)),
      })
      .option('expires', {
        type: 'string',
        describe: 'Expiry: seconds from now as Celery (--expires 60), with a unit (5m), or an ISO 8601 date-time',
      })
      .option('priority', {
        type: 'number',
        describe: 'Message priority, an integer 0-255 (0 lowest); ordered only on queues declared with a maximum priority',
      })
      .option('serializer', { choices: ['json', 'msgpack'], describe: 'Message serializer' })
      .option('delivery-mode', {
        choices: ['persistent', 'transient'],
        describe: "How the broker keeps the message (default the app's taskDeliveryMode: persistent)",
      })
      .option('wait', { type: 'boolean', default: false, describe: 'Wait for the result and print it' })
      .option('timeout', { type: 'string', default: '60s', describe: 'How long --wait waits' })
      .example("$0 call tasks.add --args '[2, 3]' --wait", 'run add(2, 3) and print 5')
      .example(
        '$0 call --chain \'[{"task": "tasks.multiply", "args": [2, 2]}, {"task": "tasks.add", "args": [10]}]\' --wait',
        'multiply(2, 2), then add(4, 10): prints 14',
      )
      .example(
        '$0 call --group \'[{"task": "tasks.multiply", "args": [2, 2]}, {"task": "tasks.multiply", "args": [3, 2]}]\' ' +
          '--chord-body \'{"task": "tasks.add_all"}\' --wait',
        'a chord: prints 10',
      ),
  handler: async (args) => (await import('../handlers/call.js')).runCall(args),
};
