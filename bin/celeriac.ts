#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { celeryArgv } from './celery-argv.js';
import { beatCommand } from './commands/beat.js';
import { callCommand } from './commands/call.js';
import { controlCommand } from './commands/control.js';
import { deadLetterCommand } from './commands/dead-letter.js';
import { demoCommand } from './commands/demo.js';
import { eventsCommand } from './commands/events.js';
import { inspectCommand } from './commands/inspect.js';
import { listCommand } from './commands/list.js';
import { multiCommand } from './commands/multi.js';
import { purgeCommand } from './commands/purge.js';
import { reportCommand } from './commands/report.js';
import { resultCommand } from './commands/result.js';
import { statusCommand } from './commands/status.js';
import { workerCommand } from './commands/worker.js';

// A command module (./commands/) holds a command's name, description and options, which --help
// shows; its handler imports what the command does (./handlers/) when it runs. A process loads
// the code of the one command it runs: a worker carries none of beat, call, dead-letter, ...

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

await yargs(celeryArgv(hideBin(process.argv)))
  .scriptName('celeriac')
  .usage('$0 <command> [options]\n\nDistributed task queue for Node.js on RabbitMQ, wire-compatible with Celery.')
  .command(workerCommand)
  .command(callCommand)
  .command(resultCommand)
  .command(purgeCommand)
  .command(deadLetterCommand)
  .command(statusCommand)
  .command(inspectCommand)
  .command(controlCommand)
  .command(eventsCommand)
  .command(beatCommand)
  .command(reportCommand)
  .command(listCommand)
  .command(demoCommand)
  .command(multiCommand)
  .demandCommand(1, 'Name a command: worker, beat, multi, call, result, purge, status, inspect, control, events, report, list or demo.')
  .strict()
  .version(pkg.version)
  .alias('version', 'V')
  .help()
  .alias('help', 'h')
  .wrap(Math.min(120, process.stdout.columns || 120))
  .fail((message: string | null, error: Error | undefined, y) => {
    if (error) {
      process.stderr.write(`celeriac: ${error.message}\n`);
    } else {
      // yargs hands a fail handler its usage object, whose help() returns the help text (its
      // typings say Argv).
      // oxlint-disable-next-line typescript/restrict-template-expressions
      process.stderr.write(`${y.help()}\n\nceleriac: ${message ?? 'invalid arguments'}\n`);
    }
    process.exit(2);
  })
  .parseAsync();
