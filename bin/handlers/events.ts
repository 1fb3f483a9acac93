import type { ArgumentsCamelCase } from 'yargs';
import { receiveEvents, type CeleryEvent } from '../../lib/index.js';
import type { EventsArgs } from '../commands/events.js';
import { remoteApp } from './remote.js';

interface TaskRow {
  uuid: string;
  name: string;
  state: string;
  worker: string;
  at: number;
  info: string;
}

const STATE_OF: Record<string, string> = {
  'task-sent': 'PENDING',
  'task-received': 'RECEIVED',
  'task-started': 'STARTED',
  'task-succeeded': 'SUCCESS',
  'task-failed': 'FAILURE',
  'task-retried': 'RETRY',
  'task-revoked': 'REVOKED',
  'task-rejected': 'REJECTED',
};

/** Shows the live view (or with --dump one line per event) until SIGINT/SIGTERM. */
export async function runEvents(args: ArgumentsCamelCase<EventsArgs>): Promise<void> {
  const app = await remoteApp(args);
  const workers = new Map<string, { online: boolean; active: number; processed: number; seen: number }>();
  const tasks = new Map<string, TaskRow>();
  const render = (): void => {
    const now = Date.now() / 1000;
    const lines = [
      `celeriac events — ${new Date().toISOString()}  (Ctrl-C to quit)`,
      '',
      'WORKER                                   STATUS    ACTIVE  PROCESSED',
    ];
    for (const [name, w] of workers) {
      const status = !w.online ? 'offline' : now - w.seen > 10 ? 'lost' : 'online';
      lines.push(`${name.padEnd(40)} ${status.padEnd(9)} ${String(w.active).padStart(6)}  ${String(w.processed).padStart(9)}`);
    }
    lines.push('', 'TASK ID                               NAME                      STATE     WORKER                INFO');
    const recent = [...tasks.values()].sort((a, b) => b.at - a.at).slice(0, args.limit);
    for (const t of recent) {
      const taskName = t.name.slice(0, 25).padEnd(25);
      const workerName = t.worker.slice(0, 21).padEnd(21);
      lines.push([t.uuid.padEnd(37), taskName, t.state.padEnd(9), workerName, t.info.slice(0, 60)].join(' '));
    }
    process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`);
  };
  const onEvent = (event: CeleryEvent): void => {
    if (args.dump) {
      const { type, hostname, timestamp, ...rest } = event;
      process.stdout.write(`${new Date(timestamp * 1000).toISOString()} ${hostname} ${type} ${JSON.stringify(rest)}\n`);
      return;
    }
    if (event.type.startsWith('worker-')) {
      workers.set(event.hostname, {
        online: event.type !== 'worker-offline',
        active: Number(event.active ?? 0),
        processed: Number(event.processed ?? 0),
        seen: event.timestamp,
      });
    } else if (typeof event.uuid === 'string') {
      const row = tasks.get(event.uuid) ?? { uuid: event.uuid, name: '', state: '', worker: event.hostname, at: event.timestamp, info: '' };
      if (typeof event.name === 'string') row.name = event.name;
      row.state = STATE_OF[event.type] ?? event.type;
      row.worker = event.hostname;
      row.at = event.timestamp;
      const info = event.result ?? event.exception ?? (event.runtime !== undefined ? '' : (event.args ?? ''));
      // Celery's events carry these as text (repr); anything else is shown as JSON.
      row.info = typeof info === 'string' ? info : JSON.stringify(info);
      tasks.set(event.uuid, row);
      if (tasks.size > 1000) tasks.delete(tasks.keys().next().value!);
    }
  };
  const receiver = await receiveEvents(app, onEvent);
  const timer = args.dump ? undefined : setInterval(render, 1000);
  if (!args.dump) render();
  if (args.dump) process.stderr.write('-> celeriac events: listening on celeryev (Ctrl-C to quit)\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  await receiver.close();
  await app.close();
}
