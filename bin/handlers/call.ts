import type { ArgumentsCamelCase } from 'yargs';
import {
  Chain,
  Chord,
  ConfigError,
  Group,
  nodeFromDict,
  type App,
  type CallOptions,
  type DeliveryMode,
  type Duration,
  type ResultHandle,
  type SignatureDict,
} from '../../lib/index.js';
import type { CallArgs } from '../commands/call.js';
import { celerySeconds } from '../seconds-option.js';
import { commandApp } from '../load-app.js';

/** Sends the task or canvas the options name; prints its id, or with --wait its result. */
export async function runCall(args: ArgumentsCamelCase<CallArgs>): Promise<void> {
  const parsedArgs = parseJson('--args', args.args);
  const parsedKwargs = parseJson('--kwargs', args.kwargs);
  if (!Array.isArray(parsedArgs)) throw new ConfigError('--args', 'expected a JSON array');
  if (typeof parsedKwargs !== 'object' || parsedKwargs === null || Array.isArray(parsedKwargs)) {
    throw new ConfigError('--kwargs', 'expected a JSON object');
  }
  const canvas = canvasDict(args);
  const app = await commandApp(args, 'celeriac-call');
  const options: CallOptions = {
    ...(args.queue ? { queue: args.queue } : {}),
    ...(args.exchange !== undefined ? { exchange: args.exchange } : {}),
    ...(args['routing-key'] !== undefined ? { routingKey: args['routing-key'] } : {}),
    ...(args.eta !== undefined ? { eta: isoDate('--eta', args.eta) } : {}),
    ...(args.countdown ? { countdown: args.countdown } : {}),
    ...(args.expires !== undefined ? { expires: expiry(args.expires) } : {}),
    ...(args.priority !== undefined ? { priority: args.priority } : {}),
    ...(args.serializer ? { serializer: args.serializer } : {}),
    ...(args.deliveryMode ? { deliveryMode: args.deliveryMode as DeliveryMode } : {}),
  };
  try {
    let result: ResultHandle;
    if (canvas) {
      let node: Chain | Group | Chord;
      try {
        node = workflowFromDict(args.queue ? withDefaultQueue(canvas, args.queue) : canvas, app);
      } catch (error) {
        throw new ConfigError(args.chain !== undefined ? '--chain' : '--group', (error as Error).message);
      }
      result = await node.applyAsync(parsedArgs, parsedKwargs as Record<string, unknown>, options);
    } else {
      result = await app.sendTask(args.name!, parsedArgs, parsedKwargs as Record<string, unknown>, options);
    }
    if (!args.wait) {
      process.stdout.write(`${result.id}\n`);
      return;
    }
    const value = await result.get({ timeout: args.timeout });
    process.stdout.write(`${JSON.stringify(value)}\n`);
  } finally {
    await app.close();
  }
}

/**
 * The chain, group or chord `dict` describes, bound to `app`; sent with `applyAsync`, which
 * freezes it and gives `args` to its first task(s) as `chain(...).applyAsync` does.
 */
function workflowFromDict(dict: SignatureDict, app: App): Chain | Group | Chord {
  const node = nodeFromDict(dict, app);
  if (node instanceof Chain || node instanceof Group || node instanceof Chord) return node;
  throw new Error(`expected a chain, group or chord, got a ${String(dict.subtask_type ?? 'task')} signature`);
}

/**
 * The canvas the options describe, in Celery's dict form, or null for a single task by name.
 * Exactly one of a task name, --chain and --group; --chord-body only with --group.
 */
function canvasDict(args: CallArgs): SignatureDict | null {
  if (args['chord-body'] !== undefined && args.group === undefined)
    throw new ConfigError('--chord-body', 'a chord body needs its header: --group');
  const given = [args.name !== undefined, args.chain !== undefined, args.group !== undefined].filter(Boolean).length;
  if (given !== 1) throw new ConfigError('call', 'give a task name, --chain or --group (exactly one)');
  if (args.name !== undefined) return null;
  if (args.chain !== undefined) {
    return canvas('celery.chain', 'chain', { tasks: signatureList('--chain', args.chain) });
  }
  const group = canvas('celery.group', 'group', { tasks: signatureList('--group', args.group!) });
  if (args['chord-body'] === undefined) return group;
  const body = signatureDict('--chord-body', parseJson('--chord-body', args['chord-body']));
  return canvas('celery.chord', 'chord', { header: group, body, kwargs: {} });
}

function canvas(task: string, type: string, kwargs: Record<string, unknown>): SignatureDict {
  return { task, args: [], kwargs, options: {}, subtask_type: type, immutable: false };
}

function signatureList(option: string, text: string): SignatureDict[] {
  const value = parseJson(option, text);
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(option, 'expected a non-empty JSON array of signature dicts');
  return value.map((item, index) => signatureDict(`${option}[${index}]`, item));
}

/** A Celery signature dict, with Celery's defaults for what it leaves out; nested canvases kept. */
function signatureDict(option: string, value: unknown): SignatureDict {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { task?: unknown }).task !== 'string') {
    throw new ConfigError(option, 'expected a signature dict such as {"task": "tasks.add", "args": [1, 2]}');
  }
  const dict = value as Partial<SignatureDict> & { task: string };
  if (dict.args !== undefined && !Array.isArray(dict.args)) throw new ConfigError(option, '"args" must be a JSON array');
  for (const key of ['kwargs', 'options'] as const) {
    const field = dict[key];
    if (field !== undefined && (typeof field !== 'object' || field === null || Array.isArray(field)))
      throw new ConfigError(option, `"${key}" must be a JSON object`);
  }
  return {
    ...dict,
    args: dict.args ?? [],
    kwargs: dict.kwargs ?? {},
    options: dict.options ?? {},
    subtask_type: dict.subtask_type ?? null,
    immutable: dict.immutable ?? false,
  };
}

/** Every task of the canvas without a queue of its own goes to `queue` (workers send later steps by their dicts). */
function withDefaultQueue(dict: SignatureDict, queue: string): SignatureDict {
  const kwargs = dict.kwargs ?? {};
  switch (dict.subtask_type) {
    case 'chain':
    case 'group':
      return {
        ...dict,
        kwargs: { ...kwargs, tasks: ((kwargs.tasks as SignatureDict[] | undefined) ?? []).map((d) => withDefaultQueue(d, queue)) },
      };
    case 'chord':
      return {
        ...dict,
        kwargs: {
          ...kwargs,
          header: withDefaultQueue(kwargs.header as SignatureDict, queue),
          body: withDefaultQueue(kwargs.body as SignatureDict, queue),
        },
      };
    default:
      return dict.options?.queue ? dict : { ...dict, options: { ...dict.options, queue } };
  }
}

/** Celery's ISO 8601 option: a date-time (a zone-less one is read as UTC, as Celery's producer reads it). */
function isoDate(option: string, text: string): Date {
  const zoned = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text.trim()) || !text.includes('T') ? text : `${text}Z`;
  const date = new Date(zoned);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(date.getTime())) {
    throw new ConfigError(option, `expected an ISO 8601 date-time such as 2030-01-01T09:00:00Z, got ${JSON.stringify(text)}`);
  }
  return date;
}

/** Celery's --expires: seconds from now (a bare number), a duration with a unit, or an ISO 8601 date-time. */
function expiry(text: string): Duration | Date {
  return /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? isoDate('--expires', text) : celerySeconds(text);
}

function parseJson(option: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(option, `not valid JSON: ${(error as Error).message}`);
  }
}
