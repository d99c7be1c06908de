/**
 * RFC 4180 CSV, written a record at a time. A file starts with a UTF-8 BOM (so spreadsheet apps
 * read Korean correctly). Cells that a spreadsheet would run as a formula get a leading apostrophe:
 * those starting with what OWASP's CSV injection page lists (`=`, `+`, `-`, `@`, tab, CR, LF), and
 * with the full-width `＝ ＋ － ＠` a Korean or Japanese keyboard types, which a spreadsheet's input
 * normalisation may read as the ASCII ones (decision 0111).
 */
export const CSV_BOM = '\uFEFF';

const FORMULA_START = /^[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/;

/** One CSV record with its CRLF. */
export function csvLine(cells: unknown[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
