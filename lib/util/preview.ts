/**
 * A short readable form of a value for logs, events and argsrepr: its JSON (or String() when it
 * has none), cut to `maxLength` characters with "..." at the end.
 */
export function preview(value: unknown, maxLength: number): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text;
}
