/**
 * RFC 4180 CSV, written a record at a time. A file starts with a UTF-8 BOM (so spreadsheet apps
 * read Korean correctly). Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR)
 * get a leading apostrophe.
 */
export const CSV_BOM = '\uFEFF';

/** One CSV record with its CRLF. */
export function csvLine(cells: unknown[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
