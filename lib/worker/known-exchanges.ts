import type { Transport } from '../broker/transport.js';
import { PublishError } from '../errors/errors.js';
import type { SignatureDict } from '../protocol/task-message.js';

/** How long an exchange seen to exist is taken to exist without asking again. */
const KNOWN_FOR_MS = 60_000;
/** Most exchange names remembered (all are forgotten past it). */
const MAX_KNOWN = 1000;

/**
 * Which exchanges exist, for the workflow parts a worker sends. A part addressed to an exchange
 * that does not exist is refused before its publish: on AMQP that publish would close the
 * worker's publish channel, and the publishes in flight beside it — other tasks' results and
 * workflow steps — would be written again, some of them twice. Existence is asked on the
 * transport's admin channel (Transport.exchangeExists) and remembered for KNOWN_FOR_MS; a
 * missing exchange is asked about again each time. A transport that cannot tell is trusted.
 */
export class KnownExchanges {
  readonly #seen = new Map<string, number>();

  /** `transport` is asked for on first use (an app makes its transport lazily). */
  constructor(readonly transport: () => Transport) {}

  /** Rejects with PublishError `unroutable` when an exchange the node is sent to now does not exist. */
  async require(dict: SignatureDict): Promise<void> {
    for (const name of exchangesSentNow(dict)) {
      if (!(await this.exists(name))) throw new PublishError('unroutable', `broker ${this.transport().url}: no exchange '${name}'`);
    }
  }

  private async exists(name: string): Promise<boolean> {
    const now = Date.now();
    const seen = this.#seen.get(name);
    if (seen !== undefined && now - seen < KNOWN_FOR_MS) return true;
    const transport = this.transport();
    if (!transport.exchangeExists) return true;
    const exists = await transport.exchangeExists(name);
    if (exists) {
      if (this.#seen.size >= MAX_KNOWN) this.#seen.clear();
      this.#seen.set(name, now);
    }
    return exists;
  }
}

/**
 * The non-default exchanges of the tasks a node sends when dispatched: a signature's own, a
 * chain's first step's, every group member's, a chord's header members' (its body's when the
 * header is empty). What those tasks send later is checked by the worker that sends it.
 */
function exchangesSentNow(dict: SignatureDict): Set<string> {
  const names = new Set<string>();
  const pending: unknown[] = [dict];
  while (pending.length > 0) {
    const node = pending.pop() as Partial<SignatureDict> | null | undefined;
    if (!node || typeof node !== 'object') continue;
    const kwargs = (node.kwargs ?? {}) as Record<string, unknown>;
    const tasks = Array.isArray(kwargs.tasks) ? (kwargs.tasks as unknown[]) : [];
    switch (node.subtask_type) {
      case 'chain':
        pending.push(tasks[0]);
        break;
      case 'group':
        pending.push(...tasks);
        break;
      case 'chord': {
        const header = kwargs.header as Partial<SignatureDict> | undefined;
        const members = Array.isArray((header?.kwargs as Record<string, unknown> | undefined)?.tasks) ? ((header!.kwargs as Record<string, unknown>).tasks as unknown[]) : [];
        if (header?.subtask_type !== 'group') pending.push(header);
        else if (members.length > 0) pending.push(...members);
        else pending.push(kwargs.body);
        break;
      }
      default: {
        const exchange = (node.options as Record<string, unknown> | null | undefined)?.exchange;
        if (typeof exchange === 'string' && exchange !== '') names.add(exchange);
      }
    }
  }
  return names;
}
