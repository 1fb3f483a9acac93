import { Writable } from 'node:stream';
import winston from 'winston';

/** A debug-level logger whose lines (`<level>: <message>`) are kept in `lines`, for specs that check what was logged. */
export function captureLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    objectMode: true,
    write(info: { level: string; message: string }, _encoding, done) {
      lines.push(`${info.level}: ${info.message}`);
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}
