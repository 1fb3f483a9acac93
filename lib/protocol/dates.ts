/**
 * Now (or `date`) as Celery writes `date_done`: UTC in Python's `datetime.isoformat()` form,
 * microseconds and no zone ("2026-11-26T21:32:05.573000").
 */
export function celeryUtcNow(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000`;
}

/**
 * ISO 8601 as Python's `isoformat()` and JS's `toISOString()` write it: a date, optionally a
 * time (seconds and a fraction optional) and a zone (`Z`, `+01:00`, `+0100`), each form one
 * that Date.parse reads too. Celery's `maybe_iso8601` reads no other form either.
 */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** A zone at the end of an ISO 8601 date-time. */
const HAS_ZONE = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * The date-time a message header such as `eta` or `expires` carries, as ISO 8601 text, or
 * undefined when the value is not a date-time (the message must then be refused: treated as
 * "no date", a bad eta would run the task at once). Accepted: null/undefined (no date → null);
 * an ISO 8601 string, as Celery 5.2 sends it (returned unchanged); kombu's JSON wrapper
 * `{"__type__": "datetime", "__value__": "<ISO 8601>"}` (its value returned, a zone-less one
 * read as UTC, as the JSON serializer reads it in bodies); a Date.
 */
export function dateHeaderText(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === 'object' && !Buffer.isBuffer(value)) {
    const { __type__: type, __value__: inner } = value as { __type__?: unknown; __value__?: unknown };
    if (type !== 'datetime' || typeof inner !== 'string' || !isIsoDateTime(inner)) return undefined;
    return HAS_ZONE.test(inner) ? inner : `${inner}Z`;
  }
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  return typeof text === 'string' && isIsoDateTime(text) ? text : undefined;
}

function isIsoDateTime(text: string): boolean {
  return ISO_8601.test(text) && !Number.isNaN(Date.parse(text));
}
