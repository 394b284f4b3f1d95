/**
 * ANSI colours, only where a person reads them: on a TTY and never when NO_COLOR is set
 * (https://no-color.org: any non-empty value). Piped output stays plain, so scripts and
 * tests see the same text a terminal would, minus the escapes.
 */
export interface Colors {
  readonly enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

const on: Colors = {
  enabled: true,
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  cyan: wrap(36, 39),
};

const id = (s: string) => s;
const off: Colors = { enabled: false, bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };

/** Colours for `stream`: on only for a TTY with NO_COLOR unset or empty. */
export function colorsFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Colors {
  return stream.isTTY === true && !env.NO_COLOR ? on : off;
}

/** Colours a status word by how good it is: running/ready green, waiting yellow, broken red. */
export function colorStatus(c: Colors, status: string): string {
  switch (status) {
    case 'running':
    case 'ready':
    case 'complete':
    case 'eligible':
      return c.green(status);
    case 'pending':
    case 'starting':
    case 'initializing':
    case 'blocked':
    case 'disconnected':
      return c.yellow(status);
    case 'failed':
    case 'lost':
    case 'down':
    case 'dead':
    case 'ineligible':
      return c.red(status);
    default:
      return status;
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Text without ANSI escapes (to measure or to compare). */
export const stripAnsi = (s: string) => s.replace(ANSI, '');
