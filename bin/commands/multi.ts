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
    y.strict(false).help(false).version(false).parserConfiguration({ 'halt-at-non-option': true, 'unknown-options-as-args': true }),
  handler: async () => {
    const argv = process.argv.slice(2);
    process.exitCode = await (await import('../handlers/multi.js')).runMulti(argv.slice(argv.indexOf('multi') + 1));
  },
};
