import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from 'winston';

/**
 * An append-only log file that can be reopened at the same path, for logrotate: after the file
 * is renamed away, reopen() closes the old descriptor and opens (creating) a new file at `path`.
 * Writes are synchronous (as Celery's file handler's are), so a line is on disk once logged and
 * no line is lost or reordered across a reopen.
 */
export class ReopenableFile extends Writable {
  #fd: number;

  constructor(readonly path: string) {
    super();
    this.#fd = openSync(path, 'a');
  }

  /** Closes the current descriptor and opens `path` again (appending, creating it if missing). */
  reopen(): void {
    const next = openSync(this.path, 'a');
    const previous = this.#fd;
    this.#fd = next;
    closeSync(previous);
  }

  // decodeStrings (the default): every chunk arrives as a Buffer.
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      writeSync(this.#fd, chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      closeSync(this.#fd);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/**
 * Sends `logger`'s lines to the file at `path` (appending) instead of its other transports, in
 * the same format. Returns the file, whose reopen() a SIGHUP handler calls after log rotation.
 */
export function logToFile(logger: Logger, path: string): ReopenableFile {
  const file = new ReopenableFile(path);
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: file, eol: '\n' }));
  return file;
}
