/**
 * The units a job file writes by hand — durations and memory sizes — and their parsers.
 * Each parser returns `undefined` for text it does not accept, so the schema can say,
 * in one place, what would have been accepted.
 */

/** One or more `<number><unit>` parts, Go style: `250ms`, `30s`, `5m`, `1h`, `1h30m`, `1.5s`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const DURATION_WHOLE = new RegExp(DURATION_PATTERN);

const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** What a duration may look like, for messages and schema descriptions. */
export const DURATION_HELP = "a duration like '250ms', '30s', '5m', '1h' or '1h30m' (or an integer of milliseconds)";

/** `"1h30m"` → 5_400_000. Fractions are allowed (`"1.5s"`); the result is rounded to whole ms. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION_WHOLE.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART)) ms += Number(m[1]) * (MS_PER_UNIT[m[2] ?? ''] ?? 0);
  return Math.round(ms);
}

/** 5_400_000 → `"1h30m"`; the inverse of {@link parseDurationMs} for whole milliseconds. */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/**
 * Sizes are binary, as Docker's are: `MB` and `MiB` both mean 2^20 bytes and `1GB` is
 * 1024 MB. Distinguishing them would only make `memory: 1GB` a surprising 953 MiB limit.
 */
export const MEMORY_PATTERN = '^[0-9]+(\\.[0-9]+)? ?([mMgG]([iI]?[bB])?)$';
const MEMORY_RE = /^([0-9]+(?:\.[0-9]+)?) ?([mg])(?:i?b)?$/i;

export const MEMORY_HELP = "whole megabytes as an integer (256) or a size like '256MB', '512MiB' or '1GB' (1GB = 1024MB)";

/** `"1GB"` → 1024, `"256MB"` → 256; `undefined` when the text is no size or not whole MB. */
export function parseMemoryMb(text: string): number | undefined {
  const m = MEMORY_RE.exec(text.trim());
  if (!m) return undefined;
  const mb = Number(m[1]) * (m[2]?.toLowerCase() === 'g' ? 1024 : 1);
  return Number.isInteger(mb) ? mb : undefined;
}
