import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../lib/index.js';

/**
 * Imports the modules of -I/--include, in order, after the app of -A is loaded: as Celery's
 * `include`, they exist for their side effect, defining tasks on the app they import. Each is a
 * file path (relative to the working directory, or absolute) when such a file exists, else a
 * package name. A module that fails to load stops the worker with the reason.
 */
export async function importIncludedModules(specifiers: readonly string[]): Promise<void> {
  for (const specifier of specifiers) {
    const isPath = specifier.startsWith('.') || specifier.startsWith('/') || existsSync(resolve(specifier));
    try {
      await import(isPath ? pathToFileURL(resolve(specifier)).href : specifier);
    } catch (error) {
      throw new ConfigError('--include', `cannot load ${specifier}: ${(error as Error).message}`);
    }
  }
}
