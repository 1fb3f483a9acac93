import { LOG_LEVEL_SPELLINGS, parseLogLevel, type LogLevel } from '../../lib/index.js';

/** `-l/--loglevel` as every command that logs takes it: Celery's spellings in any case (DEBUG, INFO, WARNING...). */
export function logLevelOption(defaultLevel: LogLevel, describe = 'Log level') {
  return {
    alias: 'l',
    type: 'string' as const,
    default: defaultLevel,
    describe: `${describe}: ${LOG_LEVEL_SPELLINGS}`,
    coerce: (value: unknown): LogLevel => parseLogLevel(Array.isArray(value) ? value.at(-1) : value, '--loglevel'),
  };
}
