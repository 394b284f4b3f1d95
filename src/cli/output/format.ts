/**
 * Numbers as people read them: ages, durations, memory and CPU. Pure functions: `now`
 * is passed in, so output is stable under test.
 */

/** `12s ago`, `3m ago`, `5h ago`, `2d ago`; `just now` under a second; `-` when unknown. */
export function formatAge(at: number | undefined, now: number): string {
  if (at === undefined || !Number.isFinite(at) || at <= 0) return '-';
  const ms = now - at;
  if (ms < 1000) return 'just now';
  return `${formatDurationShort(ms)} ago`;
}

/** The largest unit only: `45s`, `3m`, `5h`, `2d`. */
export function formatDurationShort(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** A precise duration: `500ms`, `12s`, `1m30s`, `2h5m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m ? `${m}m` : ''}`;
  if (m > 0) return `${m}m${s ? `${s}s` : ''}`;
  return `${s}s`;
}

/** Memory given in MB: `256 MB`, `1.5 GB`, `2 GB`. */
export function formatMemoryMb(mb: number): string {
  if (Math.abs(mb) < 1024) return `${round1(mb)} MB`;
  return `${round1(mb / 1024)} GB`;
}

/** CPU given in MHz: `500 MHz`, `2.4 GHz`. */
export function formatMhz(mhz: number): string {
  if (Math.abs(mhz) < 1000) return `${round1(mhz)} MHz`;
  return `${round1(mhz / 1000)} GHz`;
}

/** `used/total` of a resource, e.g. `1.5/4 GB`-style pairs as `512 MB/2 GB`. */
export function formatUsage(used: number, total: number, unit: (n: number) => string): string {
  return `${unit(used)}/${unit(total)}`;
}

/** A wall-clock time for event lists: `2024-05-01 12:03:04` in local time. */
export function formatTimestamp(at: number | undefined): string {
  if (at === undefined || !Number.isFinite(at) || at <= 0) return '-';
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `1 allocation`, `3 allocations`. */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

function round1(n: number): string {
  return String(Math.round(n * 10) / 10);
}
