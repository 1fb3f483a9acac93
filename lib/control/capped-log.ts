import type { Logger } from 'winston';
import { truncateText } from '../util/truncate.js';

/** Longest line written for one control message. */
export const MAX_LINE_LENGTH = 300;

/**
 * Warnings about control messages, which any broker publisher can send by the thousand: each
 * line is cut to MAX_LINE_LENGTH (truncateText), and at most `burst` lines are written per `windowMs`; the rest
 * are counted, and the count is written when the next window opens.
 */
export class CappedLog {
  #windowStart = 0;
  #written = 0;
  #suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly burst = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(line: string): void {
    this.#write('warn', line);
  }

  error(line: string): void {
    this.#write('error', line);
  }

  #write(level: 'warn' | 'error', line: string): void {
    const now = this.now();
    if (now - this.#windowStart >= this.windowMs) {
      if (this.#suppressed > 0)
        this.logger.warn(`remote control: ${this.#suppressed} more warnings about control messages were not logged`);
      this.#windowStart = now;
      this.#written = 0;
      this.#suppressed = 0;
    }
    if (this.#written >= this.burst) {
      this.#suppressed++;
      return;
    }
    this.#written++;
    this.logger[level](truncateText(line, MAX_LINE_LENGTH));
  }
}
