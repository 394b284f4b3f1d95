/**
 * What one run of one check found. The check functions never reject: every failure is an
 * outcome with a one-line reason, so the scheduler in alloc-checks.ts has one path.
 */
export interface CheckOutcome {
  ok: boolean;
  /** One line for people: which check and what it saw ("http GET /health: status 503 (want 200)"). */
  output: string;
}

/** `host:port`, with brackets around an IPv6 host. */
export const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** A socket error as its code when it has one (ECONNREFUSED), else its message, on one line. */
export function errorReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code) return code;
  return firstLine(e instanceof Error ? e.message : String(e)) || 'failed';
}

/** The first non-empty line of `text`, trimmed and capped so a status stays one short line. */
export function firstLine(text: string, max = 200): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A duration the way people write it: 2000 → "2s", 1500 → "1.5s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
