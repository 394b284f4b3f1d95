import { NotFoundError } from '../core/errors.js';
import { invalid } from './errors.js';

/**
 * Lets people type ids the way the CLI shows them. An id `alloc_<10 time chars><16 random>`
 * is matched by a prefix of the whole id, of its ULID part, or of its short form (the
 * random part, which `shortId` prints).
 */
export function matchesIdPrefix(id: string, typed: string): boolean {
  if (typed === '') return false;
  if (id.startsWith(typed)) return true;
  const sep = id.indexOf('_');
  const ulid = id.slice(sep + 1);
  return ulid.startsWith(typed) || ulid.slice(10).startsWith(typed);
}

/** Candidates listed in an "ambiguous" error, so the user can pick one. */
const MAX_CANDIDATES = 10;

/**
 * Finds the one item `typed` names: an exact id, an exact name (when `nameOf` is given),
 * or a unique id prefix. None → 404 naming what was typed; several → 400 listing them.
 */
export function resolveOne<T>(kind: string, typed: string, items: Iterable<T>, idOf: (t: T) => string, nameOf?: (t: T) => string): T {
  const byPrefix: T[] = [];
  const byName: T[] = [];
  for (const item of items) {
    const id = idOf(item);
    if (id === typed) return item;
    if (nameOf && nameOf(item) === typed) byName.push(item);
    if (matchesIdPrefix(id, typed)) byPrefix.push(item);
  }
  if (byName.length === 1) return byName[0]!;
  const matches = byName.length > 1 ? byName : byPrefix;
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new NotFoundError(kind, typed);
  throw ambiguous(kind, typed, matches.map(idOf));
}

export function ambiguous(kind: string, typed: string, candidates: string[]) {
  const shown = [...candidates].sort().slice(0, MAX_CANDIDATES);
  const more = candidates.length > shown.length ? ` and ${candidates.length - shown.length} more` : '';
  return invalid(`${kind} '${typed}' is ambiguous: it matches ${shown.join(', ')}${more}; type more of the id`, { kind, id: typed, candidates: shown });
}
