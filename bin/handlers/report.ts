import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { arch, release, type as osType } from 'node:os';
import { connect } from 'amqplib';
import type { ArgumentsCamelCase } from 'yargs';
import { createApp, describeControlPolicy, parseBrokerList, redactUrl, type App, type AppConfig } from '../../lib/index.js';
import type { ReportArgs } from '../commands/report.js';
import { loadApp } from '../load-app.js';

/** Settings keys whose values are never printed (as Celery's HIDDEN_SETTINGS); `routingKey` is not a secret. */
const SECRET_KEY = /pass|secret|token|credential|signature|api_?key|private_?key|(?<!routing_?)key$/i;
const MASK = '***';
/** How long the report waits for the broker's greeting before saying it is not reachable. */
const BROKER_PROBE_MS = 3000;

/**
 * Prints what a bug report needs, in the shape of Celery's `celery report`: versions, platform,
 * where the app came from, the broker and backend (passwords hidden), every resolved setting
 * (secret-looking values hidden) and the registered task names. An unreachable broker is reported,
 * not fatal: the exit status is 0 whenever the app loads.
 */
export async function runReport(args: ArgumentsCamelCase<ReportArgs>): Promise<void> {
  const module = args.app ?? process.env.CELERIAC_APP;
  const app = module
    ? await loadApp(module)
    : createApp({
        name: 'celeriac',
        logLevel: 'error',
        ...(args.broker ? { broker: args.broker } : {}),
        ...(args.backend ? { backend: args.backend } : {}),
      });
  try {
    // A broker list is probed node by node: the report says which nodes answer.
    const servers = await Promise.all(parseBrokerList(app.config.broker).map((url) => brokerServer(url)));
    process.stdout.write(`${renderReport(app, module, servers)}\n`);
  } finally {
    await app.close();
  }
}

/** `servers`: what each node of the broker list answered, in list order (one URL: one entry). */
function renderReport(app: App, module: string | undefined, servers: string[]): string {
  const config = app.config;
  const nodes = parseBrokerList(config.broker);
  const broker =
    nodes.length === 1
      ? [`broker   -> ${redactUrl(config.broker)} (${servers[0]})`]
      : [
          `broker   -> ${redactUrl(config.broker)} (${nodes.length} nodes, fail-over ${config.brokerFailover})`,
          ...nodes.map((url, i) => `            ${redactUrl(url)} (${servers[i]})`),
        ];
  const lines = [
    `software -> celeriac:${packageVersion('celeriac')} node:${process.version}`,
    `            amqplib:${packageVersion('amqplib')} ioredis:${packageVersion('ioredis')}`,
    `platform -> system:${osType()} arch:${arch()}`,
    `            kernel version:${release()} imp:${process.release.name}`,
    `loader   -> ${module ? `module ${module}` : 'environment (no module: $CELERIAC_BROKER_URL, $CELERIAC_RESULT_BACKEND)'}`,
    `settings -> transport:${scheme(config.broker)} results:${config.backend ? redactUrl(config.backend) : 'disabled'}`,
    ...broker,
    '',
    ...Object.entries(settings(config)).map(([key, value]) => `${key}: ${JSON.stringify(value)}`),
    '',
    `tasks (${app.tasks.size}):`,
    ...[...app.tasks.keys()].sort().map((name) => `  . ${name}`),
  ];
  return lines.join('\n');
}

/** Every resolved AppConfig field, made printable and with secrets hidden. */
function settings(config: AppConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key === 'controlCommands') out[key] = describeControlPolicy(config.controlCommands);
    else if (key === 'logger') out[key] = value === undefined ? 'default' : 'custom';
    else out[key] = hideSecrets(key, value);
  }
  return out;
}

/** The value with URL passwords and values under secret-looking keys masked; functions and class instances named. */
function hideSecrets(key: string, value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (SECRET_KEY.test(key)) return MASK;
  if (typeof value === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`;
  if (typeof value !== 'object') return value;
  if (value instanceof RegExp) return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => hideSecrets('', item));
  if (value instanceof Map) return hideSecrets(key, Object.fromEntries(value));
  if (value instanceof Set) return hideSecrets(key, [...value]);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return `<${value.constructor.name}>`;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hideSecrets(k, v)]));
}

function scheme(url: string): string {
  return /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1].toLowerCase() ?? url;
}

/** The broker's product and version as its AMQP greeting states them, or why they are not known. */
async function brokerServer(url: string): Promise<string> {
  if (!/^amqps?:/i.test(url))
    return scheme(url) === 'memory' ? 'in-process memory broker' : `server version not probed for ${scheme(url)}://`;
  try {
    const connection = await connect(url, { timeout: BROKER_PROBE_MS });
    const props = (connection.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties ?? {};
    await connection.close().catch(() => undefined);
    const product = typeof props.product === 'string' ? props.product : 'unknown server';
    const version = typeof props.version === 'string' ? props.version : '?';
    return `server ${product} ${version}`;
  } catch (error) {
    return `not reachable: ${(error as Error).message.replace(url, redactUrl(url))}`;
  }
}

const require = createRequire(import.meta.url);

/** The version in a package's package.json, found upwards from its entry point ('celeriac' is this package). */
function packageVersion(name: string): string {
  try {
    let dir = name === 'celeriac' ? dirname(new URL(import.meta.url).pathname) : dirname(require.resolve(name));
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      } catch {
        // no package.json here: look further up
      }
      const parent = dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'not installed';
  }
}
