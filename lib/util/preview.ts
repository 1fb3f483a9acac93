/** Arrays and plain objects nested deeper than this are left whole by the string cutting below. */
const MAX_CUT_DEPTH = 32;

/**
 * A short readable form of a value for logs, events and argsrepr: its JSON (or String() when it
 * has none), cut to `maxLength` characters with "..." at the end.
 *
 * Strings longer than `maxLength` inside the value are cut to that length before it is
 * serialized, so a task given a megabyte of text costs its preview a few kilobytes of work, not
 * a second pass over the megabyte (the message body is the first). The text is the same: a cut
 * string's JSON differs from the whole one's only after its first `maxLength` characters, past
 * the point where the preview itself is cut.
 */
export function preview(value: unknown, maxLength: number): string {
  let text: string;
  try {
    text = JSON.stringify(withStringsCut(value, maxLength, 0)) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text;
}

/**
 * `value` with every string longer than `maxLength` cut to that length, inside arrays and plain
 * objects (copied where something was cut; `value` itself when nothing was). Anything else —
 * an object with its own `toJSON`, a class instance — is left as it is, for JSON.stringify to
 * serialize as it would have.
 */
function withStringsCut(value: unknown, maxLength: number, depth: number): unknown {
  if (typeof value === 'string') return value.length > maxLength ? value.slice(0, maxLength) : value;
  if (value === null || typeof value !== 'object' || depth >= MAX_CUT_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const cut = withStringsCut(value[i], maxLength, depth + 1);
      if (cut !== value[i]) (copy ??= value.slice())[i] = cut;
    }
    return copy ?? value;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if ((prototype !== Object.prototype && prototype !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return value;
  }
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const cut = withStringsCut(record[key], maxLength, depth + 1);
    if (cut !== record[key]) (copy ??= { ...record })[key] = cut;
  }
  return copy ?? value;
}
