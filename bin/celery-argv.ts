/**
 * Celery's spellings that yargs would misread, rewritten before parsing: `-Ofair` and
 * `-Odefault` (Celery's documented form of `-O fair`), which yargs would split into the short
 * flags -O -f -a -i -r. Everything else is left as it is.
 */
export function celeryArgv(argv: readonly string[]): string[] {
  return argv.flatMap((arg) => (/^-O(fair|default)$/.test(arg) ? ['-O', arg.slice(2)] : [arg]));
}
