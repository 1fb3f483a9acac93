import type { Logger } from 'winston';

/**
 * Whether a logger writes lines of one level, cheap enough to ask for every task.
 *
 * winston's `isLevelEnabled` lists the logger's transports into a new array and searches it on
 * every call; on a worker's hot path that was over a kilobyte of garbage per task. A gate asks
 * once and keeps the answer until the logger's `level` changes (a child logger reads its
 * parent's). Contract: a transport's own level changed, or a transport added, after the gate
 * first answered is not noticed; change the logger's level, or make a new gate.
 */
export class LevelGate {
  #level: string | undefined;
  #enabled = false;

  constructor(
    private readonly logger: Logger,
    private readonly level: string,
  ) {}

  get enabled(): boolean {
    const current = this.logger.level;
    if (current !== this.#level) {
      this.#enabled = this.logger.isLevelEnabled(this.level);
      this.#level = current;
    }
    return this.#enabled;
  }
}
