import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, createApp, type App, type AppOptions, type LogLevel } from '../lib/index.js';

/**
 * Imports the module named by -A (a file path, relative to the working directory or absolute,
 * or a package name) and returns its default export or its export named `app`.
 */
export async function loadApp(specifier: string): Promise<App> {
  // A path (./dist/tasks.js, dist/tasks.js, /abs/tasks.js) when such a file exists, else a package name.
  const isPath = specifier.startsWith('.') || specifier.startsWith('/') || existsSync(resolve(specifier));
  const target = isPath ? pathToFileURL(resolve(specifier)).href : specifier;
  let module: Record<string, unknown>;
  try {
    module = (await import(target)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError('--app', `cannot load ${specifier}: ${(error as Error).message}`);
  }
  for (const candidate of [module.default, module.app]) {
    if (isApp(candidate)) return candidate;
  }
  throw new ConfigError('--app', `${specifier} exports no app: export it as default or as "app"`);
}

/** Duck-typed, so an app built with another copy of the package is accepted too. */
function isApp(value: unknown): value is App {
  return typeof value === 'object' && value !== null && 'tasks' in value && typeof (value as App).worker === 'function';
}

/**
 * The app for a long-running command (worker, beat): from -A, else $CELERIAC_APP, with its
 * logger set to the command's --loglevel.
 */
export async function loadAppForCommand(specifier: string | undefined, loglevel: LogLevel): Promise<{ app: App; specifier: string }> {
  const module = specifier ?? process.env.CELERIAC_APP;
  if (!module) throw new ConfigError('--app', 'name the module exporting the app: -A ./dist/tasks.js (or set CELERIAC_APP)');
  const app = await loadApp(module);
  app.logger.level = loglevel === 'silent' ? 'error' : loglevel;
  app.logger.silent = loglevel === 'silent';
  return { app, specifier: module };
}

/**
 * The app a one-shot command (call, purge, dead-letter, inspect, control) talks through: the
 * module named by -A, else one made from --broker / --backend (else $CELERIAC_BROKER_URL and
 * $CELERIAC_RESULT_BACKEND), with `options` on top.
 */
export async function commandApp(
  args: { app?: string; broker?: string; backend?: string },
  name: string,
  options: AppOptions = {},
): Promise<App> {
  if (args.app) return loadApp(args.app);
  return createApp({
    name,
    ...(args.broker ? { broker: args.broker } : {}),
    ...(args.backend ? { backend: args.backend } : {}),
    ...options,
  });
}
