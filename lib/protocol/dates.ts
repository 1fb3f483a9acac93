/**
 * Now (or `date`) as Celery writes `date_done`: UTC in Python's `datetime.isoformat()` form,
 * microseconds and no zone ("2026-11-26T21:32:05.573000").
 */
export function celeryUtcNow(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000`;
}
