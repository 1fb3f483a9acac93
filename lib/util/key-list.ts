/**
 * The keys of T as a list, from a record that names every key of T once: a key added to T but not
 * to `record`, or one in `record` that T does not have, fails to compile. For option-key lists
 * that must follow their interface (unknown-option checks, error messages listing the known ones).
 * The list keeps the record's order.
 */
export function keyList<T extends object>(record: { readonly [K in keyof Required<T>]: true }): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(record)) as readonly (keyof T & string)[];
}
