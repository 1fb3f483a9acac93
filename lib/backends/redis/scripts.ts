import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from '../../util/ioredis.js';
import { ConfigError } from '../../errors/errors.js';

/**
 * The Lua scripts of the Redis backend, one file each in ./lua/ with a header comment giving its
 * KEYS, ARGV, reply and the invariant it keeps. They are read from disk once per process, when
 * the first Redis backend is constructed, and defined on each command connection as ioredis
 * commands (EVALSHA, falling back to EVAL once after a script cache flush).
 *
 * The files ship beside the compiled module: `npm run build` copies every .lua file under lib/
 * into dist, and they are found relative to this module's URL, so an installed package finds
 * them too.
 */
const SCRIPTS = {
  chordJoin: { file: 'chord-join.lua', numberOfKeys: 5 },
  storeUnlessSucceeded: { file: 'store-unless-succeeded.lua', numberOfKeys: 1 },
  claimKey: { file: 'claim.lua', numberOfKeys: 1 },
  swapClaim: { file: 'swap-claim.lua', numberOfKeys: 1 },
  addRevocations: { file: 'add-revocations.lua', numberOfKeys: 1 },
  beatLead: { file: 'beat-lead.lua', numberOfKeys: 1 },
  beatRelease: { file: 'beat-release.lua', numberOfKeys: 1 },
  beatRecordRun: { file: 'beat-record-run.lua', numberOfKeys: 2 },
} as const;

type ScriptName = keyof typeof SCRIPTS;

/** A command connection with the scripts defined; each resolves with the script's reply. */
export type ScriptedClient = Redis & {
  chordJoin(
    j: string,
    t: string,
    s: string,
    ids: string,
    claim: string,
    taskId: string,
    member: string,
    score: string,
    ttl: string,
  ): Promise<string[] | null>;
  storeUnlessSucceeded(key: string, value: string, ttl: string): Promise<number>;
  claimKey(key: string, value: string, ttl: string): Promise<string | null>;
  swapClaim(key: string, expected: string, next: string, ttl: string): Promise<number>;
  addRevocations(key: string, now: string, expiresAt: string, ...taskIds: string[]): Promise<number>;
  beatLead(lock: string, holder: string, ttl: string): Promise<number>;
  beatRelease(lock: string, holder: string): Promise<number>;
  beatRecordRun(lock: string, runs: string, holder: string, entry: string, due: string): Promise<number>;
};

let sources: Record<ScriptName, string> | undefined;

function readScripts(): Record<ScriptName, string> {
  const read = {} as Record<ScriptName, string>;
  for (const [name, { file }] of Object.entries(SCRIPTS) as [ScriptName, (typeof SCRIPTS)[ScriptName]][]) {
    const path = fileURLToPath(new URL(`./lua/${file}`, import.meta.url));
    try {
      read[name] = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'backend',
        `the Redis backend's Lua script ${path} is missing (${(err as Error).message}); ` +
          'a build must copy lib/**/*.lua into dist (npm run build does)',
      );
    }
  }
  return read;
}

/** Defines every script on `client` (no I/O: ioredis loads a script on its first call). */
export function defineScripts(client: Redis): ScriptedClient {
  sources ??= readScripts();
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    client.defineCommand(name, { numberOfKeys: SCRIPTS[name].numberOfKeys, lua: sources[name] });
  }
  return client as ScriptedClient;
}
