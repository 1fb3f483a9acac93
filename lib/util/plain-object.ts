/**
 * Whether a decoded value is a mapping (a JSON object / msgpack map): an object that is not
 * null, a list, or binary (a Buffer or other Uint8Array, which msgpack decodes bin to).
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
