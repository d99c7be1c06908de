/** Left-aligned text columns separated by two spaces, with a header row. */
export function textTable(header: string[], given: string[][]): string {
  const rows = given.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** UNIX seconds as `YYYY-MM-DD HH:MM:SS UTC`. */
export function formatTime(unixSeconds: number): string {
  return `${new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export const yesNo = (v: number | boolean): string => (v ? 'yes' : 'no');

/**
 * `s` with its control characters (C0, DEL, C1) written as `\xNN`. Tables show what others wrote
 * (a webhook receiver's answer, a buyer's name): an ESC sequence printed as is would clear the
 * operator's screen, retitle the terminal or set its clipboard (OSC 52).
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001F\u007F-\u009F]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
