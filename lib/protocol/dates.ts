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
 * The one rule for a date-time celeriac reads from a message — a header's `eta`/`expires` and an
 * embedded signature's `eta`/`expires` alike — as ISO 8601 text, or undefined when the value is
 * not a date-time. Accepted: an ISO 8601 string, as Celery 5.2 sends it (returned unchanged);
 * kombu's JSON wrapper `{"__type__": "datetime", "__value__": "<ISO 8601>"}` (its value
 * returned, a zone-less one read as UTC, as the JSON serializer reads it in bodies); a valid
 * Date (what the JSON decoder makes of that wrapper in a body). Nothing else: text that only
 * JavaScript's Date reads ("Dec 3 2026") is not a date-time Celery reads.
 */
export function dateTimeText(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === 'string') return isIsoDateTime(value) ? value : undefined;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || Array.isArray(value)) return undefined;
  const { __type__: type, __value__: inner } = value as { __type__?: unknown; __value__?: unknown };
  if (type !== 'datetime' || typeof inner !== 'string' || !isIsoDateTime(inner)) return undefined;
  return HAS_ZONE.test(inner) ? inner : `${inner}Z`;
}

/**
 * The date-time a message header such as `eta` or `expires` carries (dateTimeText's rule; a
 * header may also arrive as bytes, read as UTF-8), or undefined when the value is not a
 * date-time (the message must then be refused: treated as "no date", a bad eta would run the
 * task at once). null/undefined: no date, null.
 */
export function dateHeaderText(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  return dateTimeText(Buffer.isBuffer(value) ? value.toString('utf8') : value);
}

function isIsoDateTime(text: string): boolean {
  return ISO_8601.test(text) && !Number.isNaN(Date.parse(text));
}
