/**
 * Wording of validation messages. Every message says what would have been accepted and
 * what was found ("must be an integer ≥ 0, got -1"), and offers the likely intended
 * spelling when a name is close to an allowed one.
 */
import type { z } from 'zod';

/** A value as a message shows it: strings quoted, containers named by kind. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

/**
 * A zod error function for a leaf field: "is required: <allowed>" when the field is
 * absent, "must be <allowed>, got <value>" otherwise.
 */
export function mustBe(allowed: string): { error: (iss: z.core.$ZodRawIssue) => string } {
  return {
    error: (iss) => (iss.input === undefined ? `is required: ${allowed}` : `must be ${allowed}, got ${show(iss.input)}`),
  };
}

/** Like {@link mustBe} for a closed set of words, suggesting the nearest one. */
export function mustBeOneOf(words: readonly string[]): { error: (iss: z.core.$ZodRawIssue) => string } {
  const allowed = words.length === 2 ? `'${words[0]}' or '${words[1]}'` : `one of ${words.map((w) => `'${w}'`).join(', ')}`;
  return {
    error: (iss) => {
      if (iss.input === undefined) return `is required: ${allowed}`;
      const near = typeof iss.input === 'string' ? suggest(iss.input, words) : undefined;
      return `must be ${allowed}, got ${show(iss.input)}${near ? ` — did you mean '${near}'?` : ''}`;
    },
  };
}

/** The message for a field the schema does not know. */
export function unknownFieldMessage(key: string, allowed: readonly string[]): string {
  const near = suggest(key, allowed);
  return `unknown field '${key}' (allowed: ${allowed.join(', ')})${near ? ` — did you mean '${near}'?` : ''}`;
}

/**
 * The allowed word the user most likely meant, or undefined. Case, `_` and `-` are
 * ignored first (`kill_timeout` → `killTimeout`); otherwise the closest word within an
 * edit distance of about a third of its length.
 */
export function suggest(word: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const w = norm(word);
  const same = allowed.find((a) => norm(a) === w);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const a of allowed) {
    const d = editDistance(w, norm(a));
    if (d < bestDistance && d <= Math.max(1, Math.floor(a.length / 3))) {
      best = a;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal-string-alignment distance: Levenshtein plus transposition of neighbours. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...Array<number>(b.length).fill(0)]);
  const at = (i: number, j: number) => rows[i]?.[j] ?? Infinity;
  for (let j = 0; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      row[j] = d;
    }
  }
  return at(a.length, b.length);
}
