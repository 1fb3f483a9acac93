import { InvalidMessageError, MalformedSignatureError } from '../errors/errors.js';
import { dateTimeText } from '../protocol/dates.js';
import { serializerNamed } from '../protocol/serializers.js';
import type { MessageEmbed, TaskMessage } from '../protocol/task-message.js';
import { branchesOf, MAX_SIGNATURE_DEPTH, shown, typeName, walkSignatures } from './signature-tree.js';

/** Deepest nesting of signatures in an embed (a link of a link..., a chord body in a chain in a chord...). */
export const MAX_EMBED_DEPTH = MAX_SIGNATURE_DEPTH;

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
    if (Buffer.byteLength(headers[name]) > MAX_SHORT_STRING_BYTES)
      fail(`header ${name}`, `longer than ${MAX_SHORT_STRING_BYTES} bytes, and the messages of its workflow inherit it`);
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
 * The walk and the shape of each signature are signature-tree's (iterative, so a hostile nesting
 * depth cannot overflow the call stack); the limits of what can be sent are checked here.
 */
export function checkEmbed(embed: MessageEmbed): void {
  const roots: { value: unknown; path: string }[] = [];
  const addList = (value: unknown, path: string): void => {
    if (value === undefined || value === null) return;
    if (!Array.isArray(value)) fail(path, `must be a list of signatures, got ${typeName(value)}`);
    value.forEach((item, index) => roots.push({ value: item, path: `${path}[${index}]` }));
  };
  addList(embed.callbacks, 'callbacks');
  addList(embed.errbacks, 'errbacks');
  addList(embed.chain, 'chain');
  if (embed.chord !== null && embed.chord !== undefined) roots.push({ value: embed.chord, path: 'chord' });
  try {
    for (const root of roots) {
      // Every field's type is checked where the tree reads it; what only sending needs is checked here.
      walkSignatures(
        root.value,
        branchesOf,
        ({ view, path }) => {
          if (Buffer.byteLength(view.dict.task) > MAX_TASK_NAME_BYTES) fail(`${path}.task`, `longer than ${MAX_TASK_NAME_BYTES} bytes`);
          checkOptions(view.dict.options, `${path}.options`);
        },
        { path: root.path, maxDepth: MAX_EMBED_DEPTH },
      );
    }
  } catch (error) {
    if (error instanceof MalformedSignatureError) fail(error.field, error.problem);
    throw error;
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
        if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 255)
          fail(at, `must be an integer 0..255, got ${shown(value)}`);
        break;
      case 'countdown':
        if (typeof value !== 'number' || !Number.isFinite(value)) fail(at, `must be a number of seconds, got ${shown(value)}`);
        break;
      case 'eta':
        if (dateTimeText(value) === undefined) fail(at, `must be an ISO 8601 date, got ${shown(value)}`);
        break;
      case 'expires':
        if (!(typeof value === 'number' && Number.isFinite(value)) && dateTimeText(value) === undefined)
          fail(at, `must be seconds or an ISO 8601 date, got ${shown(value)}`);
        break;
      case 'serializer':
        if (typeof value !== 'string' || !serializerNamed(value)) fail(at, `must name a serializer this worker has, got ${shown(value)}`);
        break;
      case 'ignore_result':
        if (typeof value !== 'boolean') fail(at, `must be true or false, got ${shown(value)}`);
        break;
      default:
      // group_index, chord_size, link, link_error, chord: their types are checked where the tree reads them.
      // Other options (delivery_mode, time limits, Celery's own) are read leniently or carried as they are.
    }
  }
}

function fail(path: string, problem: string): never {
  // A deep path keeps its two ends: where it starts in the embed, and the field at fault.
  const shownPath = path.length > 200 ? `${path.slice(0, 80)}…${path.slice(-100)}` : path;
  throw new InvalidMessageError('embed', `embedded workflow can never be sent: ${shownPath}: ${problem}`);
}
