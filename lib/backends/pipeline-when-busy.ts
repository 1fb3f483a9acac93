import type { Redis } from '../util/ioredis.js';

/**
 * Auto-pipelining only while the connection is busy. ioredis's auto-pipelining holds every
 * command until the next tick and sends it through a pipeline object: a fine trade when many
 * commands are issued together (one write, one round trip for all), pure cost for a lone command
 * — the one result a worker stores while nothing else is going on, on the critical path of
 * every low-load round trip. ioredis reads `options.enableAutoPipelining` at each command, so a
 * getter decides per command: a command issued while no other awaits its reply or waits to be
 * pipelined is written at once; later ones join the next pipeline. Call order stays write
 * order: a command only goes out at once when no earlier one is still waiting to be written.
 */
export function pipelineWhenBusy(client: Redis): void {
  Object.defineProperty(client.options, 'enableAutoPipelining', {
    get: () => client.commandQueue.length > 0 || client.autoPipelineQueueSize > 0,
    configurable: true,
    enumerable: true,
  });
}
