/**
 * ioredis, loaded with `require()`; every celeriac module that uses ioredis imports it from here.
 *
 * Why not `import { Redis } from 'ioredis'`: ioredis is CommonJS, and Node finds the named exports
 * of a CommonJS module imported from ESM by lexing its source (cjs-module-lexer), following
 * re-exports: ioredis's entry re-exports its 30 KB Redis.js. Lexing that much makes V8 optimize
 * the lexer on its background compiler threads, and the memory of those compiles stays in the
 * threads' malloc arenas for the life of the process: about 5 MB more resident memory in every
 * worker, for a module loaded once. `require()` loads the same file without lexing it.
 *
 * Contract: `Redis` is ioredis's client class (the same object as ioredis's named export), usable
 * as a value and as a type, like the import it replaces.
 */
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';

export type { RedisOptions } from 'ioredis';

export type Redis = RedisClient;
export const Redis = (createRequire(import.meta.url)('ioredis') as { Redis: typeof RedisClient }).Redis;
