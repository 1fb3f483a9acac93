import type { CommandModule } from 'yargs';

/**
 * `celeriac multi`: Celery's `celery multi`, which reads its own command line (node names and
 * per-node options such as `-c:w1 2` are not yargs options): everything after `multi` goes to
 * ../handlers/multi.ts as typed.
 */
export const multiCommand: CommandModule = {
  command: 'multi [command]',
  describe: "Start, stop and restart several workers in the background (Celery's `celery multi`; `celeriac multi help`)",
  builder: (y) =>
    y
      .strict(false)
      .help(false)
      .version(false)
      .parserConfiguration({ 'halt-at-non-option': true, 'unknown-options-as-args': true })
      .usage(
        '$0 multi start|stop|stopwait|restart|kill|show|names|expand|get|help <nodes> [worker options]\n\n' +
          'Runs `celeriac worker --detach` for each node and stops the workers through their pidfiles.',
      )
      .example(
        '$0 multi start w1 w2 -A ./dist/tasks.js -c 4 --pidfile=/run/celeriac/%n.pid --logfile=/var/log/celeriac/%n%I.log',
        'two workers',
      )
      .example('$0 multi stopwait w1 w2 --pidfile=/run/celeriac/%n.pid', 'warm shutdown of both, waiting until they have exited')
      .example('$0 multi show 3 -c 4 -c:1 10 -Q:2,3 images', 'the commands it would run for celery1..3'),
  handler: async () => {
    const argv = process.argv.slice(2);
    process.exitCode = await (await import('../handlers/multi.js')).runMulti(argv.slice(argv.indexOf('multi') + 1));
  },
};
