import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';
import { InvalidMessageError } from '../errors/errors.js';

/**
 * Body compression as kombu does it: the sender compresses the serialized body and names the
 * method in the `compression` header, by the content type kombu registers for it
 * (kombu/compression.py): zlib is 'application/x-gzip' (aliases 'gzip', 'zlib'), bzip2
 * 'application/x-bz2', brotli 'application/x-brotli', lzma/xz 'application/x-lzma', zstd
 * 'application/zstd'. kombu also accepts the aliases in the header, and so does celeriac.
 */
export const COMPRESSION_HEADER = 'compression';

/**
 * The worker's default `maxMessageSize` (64 MiB), and so the most bytes a compressed body may
 * inflate to when the caller gives no bound. A bigger result (a zip bomb, or a body too big to
 * run) is refused before it is held in memory.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

type Inflate = (body: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer;

interface Method {
  /** kombu's content type, what Celery puts in the header. */
  contentType: string;
  aliases: readonly string[];
  /** Undefined: Node cannot decompress it (the message is refused with reason 'compression'). */
  decompress: Inflate | undefined;
  compress: ((body: Buffer) => Buffer) | undefined;
}

/** zstd came to node:zlib in Node 22.15 / 23.8: used where the running Node has it. */
const zstd = zlib as unknown as { zstdDecompressSync?: Inflate; zstdCompressSync?: (body: Buffer) => Buffer };

const METHODS: readonly Method[] = [
  {
    contentType: 'application/x-gzip',
    aliases: ['zlib', 'gzip', 'application/gzip'],
    // kombu writes zlib streams under this name; unzip also reads a gzip stream (a sender that
    // really gzips), telling them apart by their headers.
    decompress: (body, options) => zlib.unzipSync(body, options),
    compress: (body) => zlib.deflateSync(body),
  },
  {
    contentType: 'application/x-brotli',
    aliases: ['brotli'],
    decompress: (body, options) => zlib.brotliDecompressSync(body, options),
    compress: (body) => zlib.brotliCompressSync(body),
  },
  {
    contentType: 'application/zstd',
    aliases: ['zstd', 'zstandard'],
    decompress: zstd.zstdDecompressSync ? (body, options) => zstd.zstdDecompressSync!(body, options) : undefined,
    compress: zstd.zstdCompressSync ? (body) => zstd.zstdCompressSync!(body) : undefined,
  },
  { contentType: 'application/x-bz2', aliases: ['bzip2', 'bzip'], decompress: undefined, compress: undefined },
  { contentType: 'application/x-lzma', aliases: ['lzma', 'xz'], decompress: undefined, compress: undefined },
];

const byName = new Map<string, Method>(
  METHODS.flatMap((method) => [method.contentType, ...method.aliases].map((name) => [name, method] as const)),
);

/** Content types of the methods this Node can decompress (and compress). */
export const SUPPORTED_COMPRESSIONS: readonly string[] = METHODS.filter((m) => m.decompress).map((m) => m.contentType);

/** Names accepted by `compressBody` (and the `compression` option): aliases and content types. */
export const COMPRESSION_NAMES: readonly string[] = METHODS.filter((m) => m.compress).flatMap((m) => [...m.aliases, m.contentType]);

/**
 * The body of a message whose `compression` header is `method`, inflated. Throws
 * InvalidMessageError: 'compression' when Node has no decoder for the method (bzip2, lzma,
 * zstd on older Node) or the header is not a string; 'too-large' when the result would exceed
 * `maxBytes` (null: Node's Buffer limit; left out: DEFAULT_MAX_MESSAGE_BYTES, applied here
 * only); 'decode' when the body is not valid for the method.
 */
export function decompressBody(body: Buffer, method: unknown, maxBytes: number | null = DEFAULT_MAX_MESSAGE_BYTES): Buffer {
  const name = Buffer.isBuffer(method) ? method.toString('utf8') : method;
  if (typeof name !== 'string') throw new InvalidMessageError('compression', `header "compression" must be a string, got ${typeof name}`);
  const found = byName.get(name.trim().toLowerCase());
  if (!found?.decompress) {
    throw new InvalidMessageError(
      'compression',
      `compression ${JSON.stringify(name.slice(0, 100))} not supported (supported: ${SUPPORTED_COMPRESSIONS.join(', ')})`,
    );
  }
  const limit = maxBytes === null ? bufferConstants.MAX_LENGTH : Math.min(maxBytes, bufferConstants.MAX_LENGTH);
  try {
    return found.decompress(body, { maxOutputLength: Math.max(1, limit) });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InvalidMessageError(
        'too-large',
        `body compressed with ${found.contentType} inflates to more than ${limit} bytes (the worker's maxMessageSize)`,
        { cause: error },
      );
    }
    throw new InvalidMessageError('decode', `body does not decompress as ${found.contentType}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * `body` compressed by the named method (an alias such as 'zlib' or a content type), and the
 * content type to put in the `compression` header. Throws on a name this Node cannot compress
 * with (callers validate the option first, see isCompressionName).
 */
export function compressBody(body: Buffer, name: string): { body: Buffer; contentType: string } {
  const found = byName.get(name.trim().toLowerCase());
  if (!found?.compress)
    throw new TypeError(`compression ${JSON.stringify(name)} not supported (supported: ${COMPRESSION_NAMES.join(', ')})`);
  return { body: found.compress(body), contentType: found.contentType };
}

/** True when `compressBody` can compress with `name`. */
export function isCompressionName(name: string): boolean {
  return Boolean(byName.get(name.trim().toLowerCase())?.compress);
}
