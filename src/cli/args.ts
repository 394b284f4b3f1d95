import { InvalidArgumentError } from 'commander';

/** The namespace commands use when none is given. */
export const DEFAULT_NAMESPACE = 'default';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `5m`, `30s`, `1h30m`, `500ms`, or a bare number of seconds → milliseconds.
 * Throws commander's InvalidArgumentError, so a bad value is a usage error (exit 2).
 */
export function parseDuration(value: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== text.length) throw new InvalidArgumentError(`'${value}' is not a duration (try 30s, 5m or 1h30m)`);
  return Math.round(total);
}

/** A positive integer option (`--tail 100`). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not a whole number`);
  return Number(value);
}

/** Repeatable `--label k=v`: collects into a record. */
export function collectLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`'${value}' is not key=value`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** Repeatable string option (`--deploy a.yaml --deploy b.yaml`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `JOB` or `NAMESPACE/JOB`; the `--namespace` option applies to the bare form. */
export function parseJobRef(ref: string, namespace: string | undefined): { namespace: string; name: string } {
  const i = ref.indexOf('/');
  if (i > 0) return { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
  return { namespace: namespace ?? DEFAULT_NAMESPACE, name: ref };
}

/** `ALLOC` or `ALLOC/TASK`. */
export function parseAllocRef(ref: string): { alloc: string; task?: string } {
  const i = ref.indexOf('/');
  if (i < 0) return { alloc: ref };
  return { alloc: ref.slice(0, i), task: ref.slice(i + 1) || undefined };
}
