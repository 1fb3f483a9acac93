import type { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import { LevelGate } from '../log/level-gate.js';
import { preview } from '../util/preview.js';
import { errorText } from '../util/truncate.js';
import type { WorkerEvents } from './events.js';

/**
 * Writes a worker's line for each task it receives and each outcome, from the worker's events
 * (`task-received`, `task-done`). Info lines are guarded by a LevelGate: winston formats a
 * line before its transports drop it by level, which a busy worker would pay for every task.
 * A failure is an error line whatever the level; a task that was revoked or requeued has its
 * line written where that happened (TaskRequest), as has a dead-lettered message's.
 */
export function logTaskLines(worker: EventEmitter<WorkerEvents>, logger: Logger): void {
  const info = new LevelGate(logger, 'info');
  worker.on('task-received', (request) => {
    if (info.enabled) logger.info(`Task ${request.name}[${request.id}] received`);
  });
  worker.on('task-done', (request, outcome) => {
    switch (outcome.state) {
      case 'SUCCESS':
        if (info.enabled)
          logger.info(
            `Task ${request.name}[${request.id}] succeeded in ${(outcome.runtimeMs / 1000).toFixed(6)}s: ${preview(outcome.result, 200)}`,
          );
        break;
      case 'FAILURE':
        logger.error(`Task ${request.name}[${request.id}] raised unexpected: ${errorText(outcome.error)}`);
        break;
      case 'RETRY':
        logger.info(`Task ${request.name}[${request.id}] retry in ${outcome.delayMs} ms: ${errorText(outcome.error)}`);
        break;
      case 'REVOKED':
      case 'REQUEUED':
        break;
    }
  });
}
