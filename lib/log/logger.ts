import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'silent';

/**
 * The process logger. Lines look like Celery's:
 *   [2026-11-26 21:50:01,123: INFO/celeriac@host] Task tasks.add[3f2c...] succeeded in 0.002s: 5
 * Child loggers (logger.child({ taskId, taskName })) carry task fields in `meta`.
 */
export function createLogger(options: { level?: LogLevel; name?: string } = {}): winston.Logger {
  const level = options.level ?? 'warn';
  const name = options.name ?? 'celeriac';
  return winston.createLogger({
    level: level === 'silent' ? 'error' : level,
    silent: level === 'silent',
    format: winston.format.combine(
      winston.format.timestamp({ format: 'YYYY-MM-DD HH:mm:ss,SSS' }),
      winston.format.printf((info) => {
        const who = typeof info.worker === 'string' ? info.worker : name;
        return `[${String(info.timestamp)}: ${info.level.toUpperCase()}/${who}] ${String(info.message)}`;
      }),
    ),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

/** A logger that prints nothing; the default for library use inside tests. */
export function silentLogger(): winston.Logger {
  return createLogger({ level: 'silent' });
}
