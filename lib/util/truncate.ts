/**
 * Bounds on text built from input or from task code that goes into results, logs, events and
 * message headers. A text over its bound keeps its beginning and ends with a marker saying how
 * much was cut, so it is never mistaken for the whole. amqplib refuses to publish a header
 * table over 64 KiB, and a result or log line of megabytes helps nobody: these bounds keep one
 * message's headers far below that.
 */

/** An error's message as stored in a result (`exc_message`) and written to logs. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;
/** A traceback (JS stack) stored beside a failure. */
export const MAX_TRACEBACK_CHARS = 16_384;
/** `argsrepr` / `kwargsrepr`: Celery's own default `argsrepr_maxsize` / `kwargsrepr_maxsize`. */
export const MAX_REPR_CHARS = 1024;
/** The reason text of a dead-lettered message (`x-celeriac-dead-letter-error`). */
export const MAX_DEAD_LETTER_ERROR_CHARS = 4096;

/**
 * `text` when it has at most `maxLength` characters; otherwise its beginning followed by
 * `… [N more characters truncated]`, the whole at most `maxLength` characters (a marker alone
 * when `maxLength` is smaller than the marker). Never splits a surrogate pair.
 */
export function truncateText(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  let keep = Math.max(0, maxLength - marker(text.length).length);
  // The marker counts what was cut, whose digits may make it longer than first measured.
  while (keep > 0 && keep + marker(text.length - keep).length > maxLength) keep--;
  const code = text.charCodeAt(keep - 1);
  if (keep > 0 && code >= 0xd800 && code <= 0xdbff) keep--;
  return `${text.slice(0, keep)}${marker(text.length - keep)}`;
}

function marker(cut: number): string {
  return `… [${cut} more characters truncated]`;
}

/** A list of names for a message: the first `max`, then "and N more". */
export function listNames(names: readonly string[], max = 20): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** An error as `Name: message` (a non-Error as its String()), cut to `maxLength` with the marker: for logs and stored texts. */
export function errorText(error: unknown, maxLength = MAX_ERROR_MESSAGE_CHARS): string {
  return truncateText(error instanceof Error ? `${error.name}: ${error.message}` : String(error), maxLength);
}

/** An error's message alone (anything else as its String()), cut to `maxLength` with the marker. */
export function errorMessageText(error: unknown, maxLength = MAX_ERROR_MESSAGE_CHARS): string {
  return truncateText((error as Error | null)?.message ?? String(error), maxLength);
}
