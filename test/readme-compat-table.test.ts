import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { V1_ENDPOINTS } from '../src/api/v1-endpoints.js';
import { COMPAT_TABLE_END, COMPAT_TABLE_START, compatTableMarkdown, extractCompatTable } from '../src/cli/compat-table.js';
import { pgProfiles, type PgProfile } from '../src/connectors/registry.js';

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

  it('has a PG column computed from each connector: blank where PGs do not matter, each PG where they do', () => {
    const pgs: PgProfile[] = [
      { provider: 'pga', label: 'PG A', revokesVbank: true, capabilities: { windowPayMethods: ['card'], keyIn: true, billingKey: true, partialCancel: { card: true, phone: false }, vbankApi: false, cashReceipts: false, escrowLogistics: false } },
      { provider: 'pgb', label: 'PG B', revokesVbank: false, capabilities: { windowPayMethods: [], keyIn: false, billingKey: true, partialCancel: {}, vbankApi: false, cashReceipts: false, escrowLogistics: false } },
    ];
    const table = compatTableMarkdown(V1_ENDPOINTS, pgs);
    expect(table).toContain('| Method | Path | Pier | PG | Notes |');
    expect(table).toContain('| POST | `/subscribe/payments/onetime` | partial | pga: yes<br>pgb: no |');
    expect(table).toContain('| POST | `/payments/cancel` | partial | pga: partial refunds: card<br>pgb: full refunds only |');
    expect(table).toContain('| DELETE | `/vbanks/{imp_uid}` | supported | pga: yes<br>pgb: no |');
    expect(table).toContain('| POST | `/users/getToken` | supported |  |');
    expect(table).toContain('pay methods by PG: pga (PG A): card; pgb (PG B): none yet.');
    // the real registry lists both shipped PGs
    expect(pgProfiles().map((p) => p.provider)).toEqual(['jtnet', 'nice_v2']);
  });
});

