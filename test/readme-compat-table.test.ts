import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { V1_ENDPOINTS } from '../src/api/v1-endpoints.js';
import { COMPAT_TABLE_END, COMPAT_TABLE_START, compatTableMarkdown, extractCompatTable } from '../src/cli/compat-table.js';

const README = join(resolve(import.meta.dirname, '..'), 'README.md');

describe('README compatibility table', () => {
  it('equals `pier compat-table` (regenerate with `npx pier compat-table --write`)', () => {
    const text = readFileSync(README, 'utf8');
    expect(text, `README.md needs the ${COMPAT_TABLE_START} … ${COMPAT_TABLE_END} markers`).toContain(COMPAT_TABLE_START);
    expect(text).toContain(COMPAT_TABLE_END);
    expect(extractCompatTable(text), 'README.md is stale: run `npx pier compat-table --write`').toBe(compatTableMarkdown());
  });

  it('has one row per endpoint, and a summary whose counts add up', () => {
    const table = compatTableMarkdown();
    const rows = table.split('\n').filter((l) => /^\| (GET|POST|PUT|DELETE) \|/.test(l));
    expect(rows).toHaveLength(V1_ENDPOINTS.length);
    const [summary] = table.split('\n');
    const m = /^(\d+) endpoints \(\d+ paths\) of PortOne's V1 REST API: (\d+) supported, (\d+) partial, (\d+) not yet\.$/.exec(summary);
    expect(m).not.toBeNull();
    expect(Number(m![2]) + Number(m![3]) + Number(m![4])).toBe(Number(m![1]));
    for (const e of V1_ENDPOINTS) {
      expect(table).toContain(`| ${e.method} | \`${e.path}\` | ${e.support} |`);
    }
  });
});
