/** Options that the detaching process applies itself (../daemon.ts), before it starts the child. */
const PARENT_OPTIONS_WITH_VALUES = ['--workdir', '--uid', '--gid', '--umask'];

/**
 * The command line of the child that --detach starts: `argv` (a command and its options, as
 * typed) without -D/--detach and without the options the parent has applied (the directory,
 * user and umask are inherited; a relative --workdir would be applied twice), and with
 * --pidfile/--logfile set to `paths` where the command line names none. In a group of short
 * flags (-DE) only the D goes. Everything from `--` on is kept as it is.
 */
export function detachedChildArgv(argv: readonly string[], paths: { pidfile?: string; logfile?: string }): string[] {
  const kept: string[] = [];
  let rest: readonly string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      rest = argv.slice(i);
      break;
    }
    if (token === '-D' || token === '--detach' || token === '--no-detach' || token.startsWith('--detach=')) continue;
    if (PARENT_OPTIONS_WITH_VALUES.includes(token)) {
      i += 1;
      continue;
    }
    if (PARENT_OPTIONS_WITH_VALUES.some((option) => token.startsWith(`${option}=`))) continue;
    if (/^-[A-Za-z]{2,}$/.test(token) && token.includes('D')) {
      const others = token.slice(1).replaceAll('D', '');
      if (others.length > 0) kept.push(`-${others}`);
      continue;
    }
    kept.push(token);
  }
  if (paths.pidfile !== undefined) kept.push(`--pidfile=${paths.pidfile}`);
  if (paths.logfile !== undefined) kept.push(`--logfile=${paths.logfile}`);
  return [...kept, ...rest];
}
