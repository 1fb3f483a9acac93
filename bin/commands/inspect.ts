import type { Argv, CommandModule } from 'yargs';
import type { App } from '../../lib/index.js';
import { ControlClient, INSPECT_METHODS, type InspectMethod } from '../../lib/control/control-client.js';
import type { ControlReply } from '../../lib/control/mailbox.js';
import { commandApp, loadApp } from '../load-app.js';

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
    .option('broker', { type: 'string', describe: 'Broker URL (default $CELERIAC_BROKER_URL or the app\'s)' })
    .option('backend', { type: 'string', describe: 'Result backend URL (default $CELERIAC_RESULT_BACKEND or the app\'s)' })
    .option('destination', { alias: 'd', type: 'string', describe: 'Comma-separated node names, e.g. celeriac@host (default: all)' })
    .option('timeout', { alias: 't', type: 'string', default: '1s', describe: 'How long to wait for replies' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the replies as JSON' }) as Argv<T & RemoteArgs>;
}

export async function remoteApp(args: { app?: string; broker?: string; backend?: string }): Promise<App> {
  const app = args.app ?? process.env.CELERIAC_APP;
  if (app && !args.broker) return loadApp(app);
  return commandApp({ broker: args.broker, backend: args.backend }, 'celeriac-control', { logLevel: 'error' });
}

export function destinations(args: RemoteArgs): string[] | undefined {
  const list = args.destination?.split(',').map((d) => d.trim()).filter(Boolean);
  return list?.length ? list : undefined;
}

/** Prints replies as Celery does (`-> node: OK` and the result indented), or as JSON; exit code 1 when none. */
export function printReplies(replies: ControlReply[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(Object.assign({}, ...replies))}\n`);
  } else {
    for (const reply of replies) {
      for (const [node, result] of Object.entries(reply)) {
        const failed = typeof result === 'object' && result !== null && 'error' in result;
        process.stdout.write(`-> ${node}: ${failed ? 'ERROR' : 'OK'}\n${indent(describe(result))}\n`);
      }
    }
  }
  if (replies.length === 0) {
    process.stderr.write('Error: No nodes replied within time constraint.\n');
    process.exitCode = 1;
  } else if (!json) {
    process.stdout.write(`\n${replies.length} node${replies.length === 1 ? '' : 's'} online.\n`);
  }
}

function describe(result: unknown): string {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const r = result as Record<string, unknown>;
    if (typeof r.ok === 'string' && Object.keys(r).length === 1) return r.ok;
    if (typeof r.error === 'string' && Object.keys(r).length === 1) return `error: ${r.error}`;
  }
  if (Array.isArray(result)) {
    if (result.length === 0) return '- empty -';
    return result.map((item) => (typeof item === 'string' ? `* ${item}` : `* ${JSON.stringify(item)}`)).join('\n');
  }
  return JSON.stringify(result, null, 2);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

interface InspectArgs extends RemoteArgs {
  method: InspectMethod;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <method>',
  describe: 'Ask workers (celeriac and Python Celery) about their state',
  builder: (y) =>
    remoteOptions(y)
      .positional('method', { choices: INSPECT_METHODS, demandOption: true, describe: 'What to ask' })
      .example('$0 inspect ping', 'list the workers that answer within 1 s')
      .example('$0 inspect active -d celeriac@web1', 'tasks running on one worker') as Argv<InspectArgs>,
  handler: async (args) => {
    const app = await remoteApp(args);
    try {
      const client = new ControlClient(app);
      const dest = destinations(args);
      const replies = await client.inspect(args.method, { timeout: args.timeout, ...(dest ? { destination: dest } : {}) });
      printReplies(replies, args.json);
    } finally {
      await app.close();
    }
  },
};
