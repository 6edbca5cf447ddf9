/** Human-readable output: sizes, tables, and text made safe for a terminal. */

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/**
 * What a terminal would act on instead of showing: C0 controls but the line feed, DEL, C1
 * controls (CSI among them), and the bidirectional overrides and isolates that reorder a line.
 */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `s` with each unsafe character shown as an escape (`\x1b`, `\u202e`), so nothing can rewrite the terminal. */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** A multi-line field (a description) on one line: no field can fake a line of output. */
export function oneLine(s: string): string {
  return s.replace(/\r?\n/g, '\\n');
}

export function lineOf(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
