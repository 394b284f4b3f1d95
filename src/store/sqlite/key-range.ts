/**
 * The smallest string greater than every string that starts with `prefix`, in the byte
 * order of UTF-8 (SQLite's BINARY collation, and etcd's key order); undefined when there
 * is none (empty prefix, or one ending in U+10FFFF), meaning "no upper bound".
 *
 * UTF-8 preserves code-point order, so bumping the last code point by one gives the bound.
 */
export function prefixEnd(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  const points = Array.from(prefix);
  const last = points[points.length - 1]!.codePointAt(0)!;
  if (last === 0x10ffff) return prefixEnd(points.slice(0, -1).join(''));
  // Surrogate code points cannot be encoded: skip over them.
  const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
  return points.slice(0, -1).join('') + String.fromCodePoint(next);
}
