import { createInterface } from 'node:readline/promises';
import type { ArgumentsCamelCase } from 'yargs';
import { ConfigError, listDeadLetters, requeueDeadLetters, type App, type DeadLetterEntry } from '../../lib/index.js';
import type { CommonArgs, ListArgs, RequeueArgs } from '../commands/dead-letter.js';
import { commandApp } from '../load-app.js';

async function openApp(args: CommonArgs): Promise<{ app: App; queues: string[] }> {
  const app = await commandApp(args, 'celeriac-dead-letter');
  const queues = args.queues
    ? args.queues
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean)
    : [app.config.defaultQueue];
  return { app, queues };
}

/** Prints the dead-lettered messages of each queue (or one JSON array), leaving them in place. */
export async function runList(args: ArgumentsCamelCase<ListArgs>): Promise<void> {
  if (!Number.isInteger(args.limit) || args.limit < 1) throw new ConfigError('--limit', `expected a positive integer, got ${args.limit}`);
  const { app, queues } = await openApp(args);
  try {
    const all: DeadLetterEntry[] = [];
    for (const queue of queues) {
      const listing = await listDeadLetters(app, queue, { limit: args.limit });
      all.push(...listing.entries);
      if (args.json) continue;
      const shown = listing.entries.length < listing.total ? ` (showing ${listing.entries.length})` : '';
      process.stdout.write(`${listing.deadLetterQueue}: ${listing.total} message(s)${shown}\n`);
      for (const entry of listing.entries) process.stdout.write(formatEntry(entry));
    }
    if (args.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  } finally {
    await app.close();
  }
}

/** Sends the chosen dead-lettered messages back to their queues, after confirmation unless --force. */
export async function runRequeue(args: ArgumentsCamelCase<RequeueArgs>): Promise<void> {
  const ids = (args.id ?? [])
    .flatMap((id) => String(id).split(','))
    .map((id) => id.trim())
    .filter(Boolean);
  if (args.all === ids.length > 0) throw new ConfigError('--id', 'name the messages to re-queue: --id TASK_ID ... or --all (not both)');
  const { app, queues } = await openApp(args);
  try {
    if (!args.force) {
      if (!process.stdin.isTTY) throw new ConfigError('--force', 'refusing to re-queue without confirmation; pass --force');
      const what = args.all ? 'every dead-lettered message' : `${ids.length} task(s)`;
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question(
        `Re-queue ${what} from ${queues.map((q) => `${q}.dead-letter`).join(', ')} on ${app.transport.url}? (yes/NO) `,
      );
      rl.close();
      if (answer.trim().toLowerCase() !== 'yes') {
        process.stdout.write('Nothing re-queued.\n');
        return;
      }
    }
    let requeued = 0;
    let failed = 0;
    const notFound = new Set(ids);
    for (const queue of queues) {
      const report = await requeueDeadLetters(app, queue, args.all ? { all: true } : { ids });
      for (const entry of report.requeued) {
        if (entry.id) notFound.delete(entry.id);
        process.stdout.write(`requeued ${entry.task ?? '?'}[${entry.id ?? '?'}] to ${entry.queue}\n`);
      }
      for (const { entry, error } of report.failed) {
        if (entry.id) notFound.delete(entry.id);
        process.stderr.write(`not requeued ${entry.task ?? '?'}[${entry.id ?? '?'}] (left in ${entry.deadLetterQueue}): ${error}\n`);
      }
      requeued += report.requeued.length;
      failed += report.failed.length;
    }
    for (const id of notFound) process.stderr.write(`not found: ${id}\n`);
    process.stdout.write(`Re-queued ${requeued} message(s).\n`);
    if (failed > 0 || notFound.size > 0) process.exitCode = 1;
  } finally {
    await app.close();
  }
}

function formatEntry(entry: DeadLetterEntry): string {
  const line = `  ${entry.at ?? '-'}  ${entry.task ?? '?'}[${entry.id ?? '?'}]  reason=${entry.reason ?? '?'}  queue=${entry.queue}\n`;
  return entry.error ? `${line}      ${entry.error}\n` : line;
}
