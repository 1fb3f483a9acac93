import type { App, ControlReply } from '../../lib/index.js';
import type { RemoteArgs } from '../commands/remote-options.js';
import { commandApp, loadApp } from '../load-app.js';

/**
 * The app inspect, control and events talk through: the module of -A (else $CELERIAC_APP) unless
 * --broker is given, else one made from --broker / --backend.
 */
export async function remoteApp(args: { app?: string; broker?: string; backend?: string }): Promise<App> {
  const app = args.app ?? process.env.CELERIAC_APP;
  if (app && !args.broker) return loadApp(app);
  return commandApp({ broker: args.broker, backend: args.backend }, 'celeriac-control', { logLevel: 'error' });
}

export function destinations(args: RemoteArgs): string[] | undefined {
  const list = args.destination
    ?.split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  return list?.length ? list : undefined;
}

/** Celery's exit status when no node replied (EX_UNAVAILABLE). */
export const EXIT_NO_REPLY = 69;

/**
 * Prints replies as Celery does (`-> node: OK` and the result indented), or as JSON as Celery's
 * -j does: for inspect and status one object by node name; for control (`jsonList`) the list of
 * one-node objects Celery's broadcast returns. Exit status EXIT_NO_REPLY when none replied.
 */
export function printReplies(replies: ControlReply[], json: boolean, jsonList = false): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(jsonList ? replies : Object.assign({}, ...replies))}\n`);
  } else {
    for (const reply of replies) {
      for (const [node, result] of Object.entries(reply)) {
        const failed = typeof result === 'object' && result !== null && 'error' in result;
        process.stdout.write(`-> ${node}: ${failed ? 'ERROR' : 'OK'}\n${indent(describe(result))}\n`);
      }
    }
  }
  if (replies.length === 0) {
    process.stderr.write('Error: No nodes replied within time constraint.\n');
    process.exitCode = EXIT_NO_REPLY;
  } else if (!json) {
    process.stdout.write(`\n${replies.length} node${replies.length === 1 ? '' : 's'} online.\n`);
  }
}

function describe(result: unknown): string {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const r = result as Record<string, unknown>;
    if (typeof r.ok === 'string' && Object.keys(r).length === 1) return r.ok;
    if (typeof r.error === 'string' && Object.keys(r).length === 1) return `error: ${r.error}`;
  }
  if (Array.isArray(result)) {
    if (result.length === 0) return '- empty -';
    return result.map((item) => (typeof item === 'string' ? `* ${item}` : `* ${JSON.stringify(item)}`)).join('\n');
  }
  return JSON.stringify(result, null, 2);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
