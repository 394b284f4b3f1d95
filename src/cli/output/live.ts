import type { OutStream } from '../context.js';

/** One line of a live view; `key` says which thing it describes (an allocation id…). */
export interface LiveLine {
  key: string;
  text: string;
}

/**
 * A block of lines that updates as things change. On a terminal it redraws in place
 * (cursor up, clear to end, print); elsewhere (a pipe, a CI log) it appends only the
 * lines whose text changed, so a log reads as a history of transitions, not a flood.
 */
export class LiveView {
  private drawn = 0;
  private readonly last = new Map<string, string>();

  constructor(private readonly out: OutStream) {}

  render(lines: LiveLine[]): void {
    if (this.out.isTTY) {
      // Lines wider than the terminal wrap and would break the cursor arithmetic.
      const width = Math.max(20, (this.out.columns ?? 120) - 1);
      let chunk = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[J` : '';
      for (const l of lines) chunk += truncate(l.text, width) + '\n';
      this.out.write(chunk);
      this.drawn = lines.length;
      return;
    }
    for (const l of lines) {
      if (this.last.get(l.key) === l.text) continue;
      this.last.set(l.key, l.text);
      this.out.write(l.text + '\n');
    }
  }

  /** Forget the block: what is printed next starts below it. */
  done(): void {
    this.drawn = 0;
  }
}

// Only used on a TTY, where the text may hold colour escapes: count visible characters.
function truncate(s: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i);
      if (end > 0) {
        out += s.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) return out + '\x1b[0m';
    out += s[i];
    visible++;
  }
  return out;
}
