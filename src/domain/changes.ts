import { canonicalJson } from './canonical-json.js';

/** The entries of `changes` that differ from `current` (compared as canonical JSON): what an update records. */
export function changedFields<T extends object>(current: T, changes: Partial<T>): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(([k, v]) => canonicalJson(v) !== canonicalJson((current as Record<string, unknown>)[k])),
  ) as Partial<T>;
}
