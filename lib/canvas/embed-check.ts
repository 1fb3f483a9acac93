import { InvalidMessageError } from '../errors/errors.js';
import { serializerNamed } from '../protocol/serializers.js';
import type { MessageEmbed, TaskMessage } from '../protocol/task-message.js';
import { isPlainObject } from '../util/plain-object.js';

/** Deepest nesting of signatures in an embed (a link of a link..., a chord body in a chain in a chord...). */
export const MAX_EMBED_DEPTH = 100;

/** AMQP short strings (queue, exchange, routing key, correlation id, reply-to) hold at most 255 bytes. */
const MAX_SHORT_STRING_BYTES = 255;

/** Longest task name accepted in an embed (it becomes a header of the message sent). */
const MAX_TASK_NAME_BYTES = 4096;

/**
 * checkEmbed for a whole message, and what its workflow's messages inherit from it: its `id`
 * (their `parent_id`) and `root_id` must be at most 255 bytes — a longer one would make every
 * message of the workflow carry it, up to a header table the broker client refuses to encode.
 */
export function checkWorkflowOf(message: TaskMessage): void {
  const { embed, headers } = message;
  if (!(embed.callbacks?.length || embed.errbacks?.length || embed.chain?.length || embed.chord)) return;
  for (const name of ['id', 'root_id'] as const) {
    if (Buffer.byteLength(headers[name]) > MAX_SHORT_STRING_BYTES) fail(`header ${name}`, `longer than ${MAX_SHORT_STRING_BYTES} bytes, and the messages of its workflow inherit it`);
  }
  checkEmbed(embed);
}

/**
 * Checks, before a task runs, that every signature its message embeds (callbacks, errbacks,
 * chain steps, chord body, and what they nest: link, link_error, chord, a chain's or group's
 * tasks, a chord's header and body) could be sent by this worker once the task is done. Throws
 * InvalidMessageError with reason `embed` and the path of the first bad field
 * (e.g. `callbacks[0].options.priority: must be an integer 0..255, got "high"`): the message is
 * dead-lettered without running, since its outcome could never be passed on.
 *
 * What it cannot know here — an exchange that does not exist, a task nobody registered — is
 * found when the part is sent; the worker then records that part's failure and dead-letters
 * the message (reason `workflow`) without running the task again.
 *
 * Iterative (an explicit stack), so a hostile nesting depth cannot overflow the call stack.
 */
export function checkEmbed(embed: MessageEmbed): void {
  const stack: { value: unknown; path: string; depth: number }[] = [];
  const pushList = (value: unknown, path: string, depth: number): void => {
    if (value === undefined || value === null) return;
    if (!Array.isArray(value)) fail(path, `must be a list of signatures, got ${typeName(value)}`);
    for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]`, depth });
  };
  pushList(embed.callbacks, 'callbacks', 1);
  pushList(embed.errbacks, 'errbacks', 1);
  pushList(embed.chain, 'chain', 1);
  if (embed.chord !== null && embed.chord !== undefined) stack.push({ value: embed.chord, path: 'chord', depth: 1 });
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > MAX_EMBED_DEPTH) fail(path, `signatures nested deeper than ${MAX_EMBED_DEPTH} levels`);
    if (!isPlainObject(value)) fail(path, `must be a signature (an object), got ${typeName(value)}`);
    const { task, args, kwargs, options, subtask_type: subtaskType, immutable } = value;
    if (typeof task !== 'string' || task === '') fail(`${path}.task`, `must be a task name, got ${typeName(task)}`);
    if (Buffer.byteLength(task) > MAX_TASK_NAME_BYTES) fail(`${path}.task`, `longer than ${MAX_TASK_NAME_BYTES} bytes`);
    if (args !== undefined && args !== null && !Array.isArray(args)) fail(`${path}.args`, `must be a list, got ${typeName(args)}`);
    if (kwargs !== undefined && kwargs !== null && !isPlainObject(kwargs)) fail(`${path}.kwargs`, `must be an object, got ${typeName(kwargs)}`);
    if (options !== undefined && options !== null && !isPlainObject(options)) fail(`${path}.options`, `must be an object, got ${typeName(options)}`);
    if (subtaskType !== undefined && subtaskType !== null && typeof subtaskType !== 'string') fail(`${path}.subtask_type`, `must be a string or null, got ${typeName(subtaskType)}`);
    if (immutable !== undefined && immutable !== null && typeof immutable !== 'boolean') fail(`${path}.immutable`, `must be true or false, got ${typeName(immutable)}`);
    const nested = depth + 1;
    if (options) {
      checkOptions(options as Record<string, unknown>, `${path}.options`);
      const { link, link_error: linkError, chord } = options as Record<string, unknown>;
      // Celery takes one signature where it expects a list of them (maybe_list), and so does Signature.fromDict.
      pushList(isPlainObject(link) ? [link] : link, `${path}.options.link`, nested);
      pushList(isPlainObject(linkError) ? [linkError] : linkError, `${path}.options.link_error`, nested);
      if (chord !== undefined && chord !== null) stack.push({ value: chord, path: `${path}.options.chord`, depth: nested });
    }
    const inner = (kwargs ?? {}) as Record<string, unknown>;
    switch (subtaskType) {
      case 'chain':
        if (!Array.isArray(inner.tasks) || inner.tasks.length === 0) fail(`${path}.kwargs.tasks`, `a chain needs a non-empty list of tasks, got ${typeName(inner.tasks)}`);
        pushList(inner.tasks, `${path}.kwargs.tasks`, nested);
        break;
      case 'group':
        if (!Array.isArray(inner.tasks)) fail(`${path}.kwargs.tasks`, `a group needs a list of tasks, got ${typeName(inner.tasks)}`);
        pushList(inner.tasks, `${path}.kwargs.tasks`, nested);
        break;
      case 'chord':
        if (!isPlainObject(inner.header)) fail(`${path}.kwargs.header`, `a chord needs a header signature, got ${typeName(inner.header)}`);
        if (!isPlainObject(inner.body)) fail(`${path}.kwargs.body`, `a chord needs a body signature, got ${typeName(inner.body)}`);
        stack.push({ value: inner.body, path: `${path}.kwargs.body`, depth: nested });
        stack.push({ value: inner.header, path: `${path}.kwargs.header`, depth: nested });
        break;
      default:
    }
  }
}

/** The call options of a signature dict (Celery's names), as the producer will read them. */
function checkOptions(options: Record<string, unknown>, path: string): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || value === null) continue;
    const at = `${path}.${key}`;
    switch (key) {
      case 'task_id':
      case 'group_id':
      case 'reply_to':
      case 'queue':
      case 'exchange':
      case 'routing_key':
        if (typeof value !== 'string') fail(at, `must be a string, got ${typeName(value)}`);
        if (Buffer.byteLength(value) > MAX_SHORT_STRING_BYTES) fail(at, `longer than ${MAX_SHORT_STRING_BYTES} bytes`);
        break;
      case 'priority':
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 255) fail(at, `must be an integer 0..255, got ${shown(value)}`);
        break;
      case 'countdown':
        if (typeof value !== 'number' || !Number.isFinite(value)) fail(at, `must be a number of seconds, got ${shown(value)}`);
        break;
      case 'eta':
        if (!isDate(value)) fail(at, `must be an ISO 8601 date, got ${shown(value)}`);
        break;
      case 'expires':
        if (!(typeof value === 'number' && Number.isFinite(value)) && !isDate(value)) fail(at, `must be seconds or an ISO 8601 date, got ${shown(value)}`);
        break;
      case 'serializer':
        if (typeof value !== 'string' || !serializerNamed(value)) fail(at, `must name a serializer this worker has, got ${shown(value)}`);
        break;
      case 'ignore_result':
        if (typeof value !== 'boolean') fail(at, `must be true or false, got ${shown(value)}`);
        break;
      case 'group_index':
      case 'chord_size':
        if (!Number.isInteger(value) || (value as number) < 0) fail(at, `must be a non-negative integer, got ${shown(value)}`);
        break;
      default:
      // Other options (delivery_mode, time limits, Celery's own) are read leniently or carried as they are.
    }
  }
}

/** An ISO date string, or kombu's `{"__type__": "datetime", "__value__": "..."}` wrapping of one. */
/** A date-time as the serializers hand it over: a Date (JSON's decoder turns kombu's typed datetime into one), or a string. */
function isDate(value: unknown): boolean {
  if (value instanceof Date) return !Number.isNaN(value.getTime());
  const text = isPlainObject(value) && value.__type__ === 'datetime' ? value.__value__ : value;
  return typeof text === 'string' && !Number.isNaN(Date.parse(text));
}

function fail(path: string, problem: string): never {
  // A deep path keeps its two ends: where it starts in the embed, and the field at fault.
  const shownPath = path.length > 200 ? `${path.slice(0, 80)}…${path.slice(-100)}` : path;
  throw new InvalidMessageError('embed', `embedded workflow can never be sent: ${shownPath}: ${problem}`);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (Buffer.isBuffer(value)) return 'bytes';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A bounded rendering of a bad value for the error text. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

