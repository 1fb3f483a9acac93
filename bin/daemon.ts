import { ConfigError } from '../lib/index.js';
import type { DaemonArgs } from './commands/daemon-options.js';
import { dropPrivileges } from './privileges.js';

/** --umask as Celery's DaemonContext reads it: octal with a leading zero (0027), otherwise decimal. */
export function parseUmask(text: string): number {
  const octal = text.startsWith('0');
  const value = (octal ? /^[0-7]+$/ : /^\d+$/).test(text) ? Number.parseInt(text, octal ? 8 : 10) : Number.NaN;
  if (!(value >= 0 && value <= 0o777)) {
    throw new ConfigError('--umask', `expected octal with a leading 0 (0027) or a decimal number up to 511, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * Applies --workdir, --uid/--gid and --umask to this process, before the command loads its app:
 * the directory first (so -A, --pidfile and --logfile are relative to it), then the user and
 * group (so the app's code never runs as root when they are given, and the files the process
 * creates are the user's), then the mask. A bad value fails before anything has changed.
 * A detaching process applies them itself and its child inherits them (see detach-argv.ts).
 */
export function applyDaemonOptions(args: DaemonArgs): void {
  const umask = args.umask === undefined ? undefined : parseUmask(args.umask);
  if (args.workdir !== undefined) {
    try {
      process.chdir(args.workdir);
    } catch (error) {
      throw new ConfigError('--workdir', `cannot change to ${args.workdir}: ${(error as Error).message}`);
    }
  }
  dropPrivileges(args.uid, args.gid);
  if (umask !== undefined) process.umask(umask);
}
