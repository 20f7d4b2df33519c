/** Every key the cluster adapters write starts with this, then `:` (tests pass their own to isolate themselves). */
export const DEFAULT_KEY_PREFIX = 'us';

/** A prefix as given, or the default; rejects what would make keys ambiguous. */
export function keyPrefix(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_KEY_PREFIX;
  if (!/^[A-Za-z0-9_.{}-]+$/.test(value)) throw new RangeError(`key prefix "${value}" must be letters, digits, _ . - { } (no ':' or spaces)`);
  return value;
}
