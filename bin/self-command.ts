import { fileURLToPath } from 'node:url';

/**
 * The command line that runs celeriac again with `args`: this node binary, its flags, and the
 * compiled CLI next to this module. What --detach and celeriac multi start.
 */
export function celeriacCommand(args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [...process.execArgv, fileURLToPath(new URL('./celeriac.js', import.meta.url)), ...args] };
}
