import { ConfigError } from '../errors/errors.js';
import type { LogLevel } from './logger.js';

/**
 * Every spelling a log level is accepted in, matched without regard to case: celeriac's own
 * names and Python logging's, as Celery's `-l/--loglevel` takes them. Python's CRITICAL and
 * FATAL log errors only: winston has no level above error.
 */
const LEVEL_NAMES: Readonly<Record<string, LogLevel>> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  fatal: 'error',
  silent: 'silent',
};

/** The names listed in errors and --help, in order of verbosity. */
export const LEVEL_SPELLINGS = 'DEBUG, INFO, WARNING (or warn), ERROR, CRITICAL, FATAL, silent — any case';

/** The level `name` spells; a ConfigError naming `option` for anything else. */
export function parseLogLevel(name: unknown, option: string): LogLevel {
  const level = typeof name === 'string' ? LEVEL_NAMES[name.trim().toLowerCase()] : undefined;
  if (level === undefined) throw new ConfigError(option, `unknown log level ${JSON.stringify(name)}; expected one of ${LEVEL_SPELLINGS}`);
  return level;
}
