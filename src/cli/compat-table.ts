import { readFileSync, writeFileSync } from 'node:fs';
import { V1_ENDPOINTS, type PgFeature, type Support, type V1Endpoint } from '../api/v1-endpoints.js';
import { pgProfiles, type PgProfile } from '../connectors/registry.js';

export const COMPAT_TABLE_START = '<!-- compat-table:start -->';
export const COMPAT_TABLE_END = '<!-- compat-table:end -->';

const METHOD_ORDER: Record<V1Endpoint['method'], number> = { GET: 0, POST: 1, PUT: 2, DELETE: 3 };
const SUPPORT_ORDER: Support[] = ['supported', 'partial', 'not yet'];

/** Markdown table cells: a `|` would end the cell, a newline the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** One PG's support for a feature, in a few words. */
function pgSupport(feature: PgFeature, pg: PgProfile): string {
  const c = pg.capabilities;
  switch (feature) {
    case 'keyIn':
      return c.keyIn ? 'yes' : 'no';
    case 'billingKey':
      return c.billingKey ? 'yes' : 'no';
    case 'vbankApi':
      return c.vbankApi ? 'yes' : 'no';
    case 'vbankRevoke':
      return pg.revokesVbank ? 'yes' : 'no';
    case 'partialCancel': {
      const partial = Object.entries(c.partialCancel)
        .filter(([, yes]) => yes)
        .map(([method]) => method);
      return partial.length > 0 ? `partial refunds: ${partial.join(', ')}` : 'full refunds only';
    }
  }
}

/** The PG column: blank when the endpoint works alike on every PG, else each PG's support. */
function pgColumn(e: V1Endpoint, pgs: readonly PgProfile[]): string {
  if (!e.pg || e.support === 'not yet') return '';
  return pgs.map((pg) => `${pg.provider}: ${pgSupport(e.pg!, pg)}`).join('<br>');
}

/**
 * The README's V1 compatibility table, rendered from src/api/v1-endpoints.ts and each connector's
 * capabilities: a one-line count, then one row per method + path, sorted by path (so each
 * resource's endpoints sit together), then by method; the PG column says, for endpoints whose
 * support depends on the PG, what each PG does. Then the payment window's methods per PG.
 * No trailing newline.
 */
export function compatTableMarkdown(endpoints: readonly V1Endpoint[] = V1_ENDPOINTS, pgs: readonly PgProfile[] = pgProfiles()): string {
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
    '| Method | Path | Pier | PG | Notes |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((e) => `| ${e.method} | \`${cell(e.path)}\` | ${e.support} | ${pgColumn(e, pgs)} | ${e.note ? cell(e.note) : ''} |`),
    '',
    `Payment window (\`IMP.request_pay\`) pay methods by PG: ${pgs
      .map((pg) => `${pg.provider} (${pg.label}): ${pg.capabilities.windowPayMethods.length > 0 ? pg.capabilities.windowPayMethods.join(', ') : 'none yet'}`)
      .join('; ')}.`,
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
