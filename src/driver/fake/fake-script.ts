/**
 * The little program a fake task "runs". The fake driver understands the shapes of command
 * the tests and simulated workloads use, so the same TaskSpec means the same thing to the
 * fake and to Docker:
 *
 *   sh -c 'echo hi $NAME; echo oops >&2; trap "" TERM; sleep 2; exit 3'
 *   echo hello · sleep 5 · true · false · exit N
 *
 * Statements are split on `;`, `&&` and newlines (quotes are not parsed across them).
 * Anything else, including no command at all (the image's default), runs until stopped.
 */
export type FakeStep =
  | { type: 'echo'; text: string; stream: 'stdout' | 'stderr' }
  | { type: 'sleep'; ms: number }
  | { type: 'exit'; code: number }
  | { type: 'ignore-term' }
  | { type: 'forever' };

const SHELLS = new Set(['sh', '/bin/sh', 'bash', '/bin/bash', 'ash']);

function unquote(s: string): string {
  return s.replace(/^(['"])(.*)\1$/s, '$2');
}

function expand(text: string, env: Record<string, string> | undefined): string {
  if (!env) return text;
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? '');
}

function statement(raw: string, env: Record<string, string> | undefined): FakeStep[] {
  const s = raw.trim();
  if (s === '') return [];
  const [word, ...rest] = s.split(/\s+/);
  const argText = s.slice(word!.length).trim();
  switch (word) {
    case 'echo': {
      const toStderr = /\s*>&2\s*$/.test(argText);
      const text = argText.replace(/\s*>&2\s*$/, '');
      const words = text.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
      return [{ type: 'echo', stream: toStderr ? 'stderr' : 'stdout', text: expand(words.map(unquote).join(' '), env) }];
    }
    case 'sleep': {
      const secs = Number(rest[0]);
      return [{ type: 'sleep', ms: Number.isFinite(secs) ? secs * 1000 : 0 }];
    }
    case 'exit':
      return [{ type: 'exit', code: rest[0] === undefined ? 0 : Number(rest[0]) & 0xff }];
    case 'true':
      return [];
    case 'false':
      return [{ type: 'exit', code: 1 }];
    case 'trap':
      return /^(""|'')\s+(TERM|SIGTERM|15)\b/.test(argText) ? [{ type: 'ignore-term' }] : [];
    default:
      return [];
  }
}

/** Turns a task's command and args into the steps the fake plays. */
export function fakeProgram(command: string | undefined, args: string[], env: Record<string, string>): FakeStep[] {
  if (command === undefined) {
    // The image's default command (a server, typically): it runs until stopped.
    return [{ type: 'forever' }];
  }
  if (SHELLS.has(command) && args[0] === '-c' && args[1] !== undefined) {
    return [...args[1].split(/;|&&|\n/).flatMap((st) => statement(st, env)), { type: 'exit', code: 0 }];
  }
  const known = new Set(['echo', 'sleep', 'exit', 'true', 'false']);
  if (known.has(command)) {
    const line = [command, ...args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a))].join(' ');
    // No shell: nothing expands `$VAR`.
    return [...statement(line, undefined), { type: 'exit', code: 0 }];
  }
  return [{ type: 'forever' }];
}
