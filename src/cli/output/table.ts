import Table from 'cli-table3';
import type { Colors } from './color.js';

/**
 * A borderless table in the style of `nomad status` and `kubectl get`: upper-case headers,
 * columns separated by two spaces, no trailing blanks. cli-table3 does the width
 * arithmetic (it measures strings without their ANSI colours).
 */
export function renderTable(head: string[], rows: string[][], colors?: Colors): string {
  const table = new Table({
    head: head.map((h) => (colors ? colors.bold(h.toUpperCase()) : h.toUpperCase())),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    // cli-table3 colours headers red by default and decides by itself whether it may:
    // we colour (or not) ourselves.
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  table.push(...rows);
  return (
    table
      .toString()
      .split('\n')
      .map((line) => line.trimEnd())
      .filter((line) => line !== '')
      .join('\n') + '\n'
  );
}

/** `Key   value` lines with the keys padded to one width, as a detail header. */
export function renderFields(fields: [string, string][]): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)} = ${v}`.trimEnd() + '\n').join('');
}
