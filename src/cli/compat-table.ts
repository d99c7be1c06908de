import { readFileSync, writeFileSync } from 'node:fs';
import { V1_ENDPOINTS, type Support, type V1Endpoint } from '../api/v1-endpoints.js';

export const COMPAT_TABLE_START = '<!-- compat-table:start -->';
export const COMPAT_TABLE_END = '<!-- compat-table:end -->';

const METHOD_ORDER: Record<V1Endpoint['method'], number> = { GET: 0, POST: 1, PUT: 2, DELETE: 3 };
const SUPPORT_ORDER: Support[] = ['supported', 'partial', 'not yet'];

/** Markdown table cells: a `|` would end the cell, a newline the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * The README's V1 compatibility table, rendered from src/api/v1-endpoints.ts: a one-line count,
 * then one row per method + path, sorted by path (so each resource's endpoints sit together),
 * then by method. No trailing newline.
 */
export function compatTableMarkdown(endpoints: readonly V1Endpoint[] = V1_ENDPOINTS): string {
  const rows = [...endpoints].sort((a, b) => {
    const pa = a.path.toLowerCase();
    const pb = b.path.toLowerCase();
    if (pa !== pb) return pa < pb ? -1 : 1;
    return METHOD_ORDER[a.method] - METHOD_ORDER[b.method];
  });
  const count = (s: Support) => endpoints.filter((e) => e.support === s).length;
  const paths = new Set(endpoints.map((e) => e.path)).size;
  const summary =
    `${endpoints.length} endpoints (${paths} paths) of PortOne's V1 REST API: ` +
    SUPPORT_ORDER.map((s) => `${count(s)} ${s}`).join(', ') +
    '.';
  const lines = [
    summary,
    '',
    '| Method | Path | Pier | Notes |',
    '| --- | --- | --- | --- |',
    ...rows.map((e) => `| ${e.method} | \`${cell(e.path)}\` | ${e.support} | ${e.note ? cell(e.note) : ''} |`),
  ];
  return lines.join('\n');
}

/** `text` with whatever lies between the compat-table markers replaced by `table`. */
export function replaceCompatTable(text: string, table: string): string {
  const start = text.indexOf(COMPAT_TABLE_START);
  const end = text.indexOf(COMPAT_TABLE_END);
  if (start < 0 || end < 0 || end < start) {
    throw new Error(`no "${COMPAT_TABLE_START}" … "${COMPAT_TABLE_END}" markers found`);
  }
  return `${text.slice(0, start + COMPAT_TABLE_START.length)}\n${table}\n${text.slice(end)}`;
}

/** The text between the markers, without the newlines that separate it from them; null without markers. */
export function extractCompatTable(text: string): string | null {
  const start = text.indexOf(COMPAT_TABLE_START);
  const end = text.indexOf(COMPAT_TABLE_END);
  if (start < 0 || end < 0 || end < start) return null;
  return text.slice(start + COMPAT_TABLE_START.length, end).replace(/^\r?\n/, '').replace(/\r?\n$/, '');
}

/** Rewrites the table inside a markdown file's markers; returns whether the file changed. */
export function writeCompatTable(file: string): boolean {
  const before = readFileSync(file, 'utf8');
  const after = replaceCompatTable(before, compatTableMarkdown());
  if (after === before) return false;
  writeFileSync(file, after);
  return true;
}
