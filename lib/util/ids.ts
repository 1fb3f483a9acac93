import { randomUUID } from 'node:crypto';

/**
 * A new random id (UUID v4, the form Celery uses for task, group and client ids).
 *
 * Node builds randomUUID()'s string out of about a dozen concatenated pieces, and V8 keeps it
 * that way — about 490 bytes of heap — until something reads it as a whole. Ids are kept for a
 * task's lifetime (in headers, pending publishes, result handles), so each is read once here:
 * that flattens it to a plain 36-character string (about 70 bytes) before anything holds it.
 */
export function newId(): string {
  const id = randomUUID();
  id.charCodeAt(0);
  return id;
}
