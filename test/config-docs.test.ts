/**
 * docs/configuration.md is what an operator sets Pier up from: its table must name every setting
 * the loader reads, under the variable the loader reads it from, with the loader's default and
 * range. The README's shorter table may leave rows out but must not name a variable Pier ignores.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_KEYS, loadConfig } from '../src/config/load.js';
import { ConfigSchema } from '../src/config/schema.js';

interface Row {
  key: string;
  env: string;
  type: string;
  default: string;
}

/** The rows of the first table under a header line that starts with `header`. */
function tableRows(file: string, header: string): string[][] {
  const lines = readFileSync(resolve(__dirname, '..', file), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  expect(start, `${file}: no table starting "${header}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    // split on the column bars, not on the escaped `\|` inside a cell
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

const docRows: Row[] = tableRows('docs/configuration.md', '| key | env |').map(([key, env, type, dflt]) => ({
  key: key.replace(/`/g, ''),
  env: env.replace(/`/g, ''),
  type,
  default: dflt,
}));

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
}

function leafKeys(node: SchemaNode, prefix = ''): string[] {
  if (node.type !== 'object' || !node.properties) return [prefix.slice(0, -1)];
  return Object.entries(node.properties).flatMap(([k, v]) => leafKeys(v, `${prefix}${k}.`));
}

function schemaAt(path: string): SchemaNode {
  return path.split('.').reduce<SchemaNode>((n, p) => n.properties![p], ConfigSchema as unknown as SchemaNode);
}

function valueAt(tree: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((n, p) => (n as Record<string, unknown>)[p], tree);
}

describe('docs/configuration.md', () => {
  it('has one row per environment variable the loader reads, with the key it sets', () => {
    expect(docRows.map((r) => r.env).sort()).toEqual(Object.keys(ENV_KEYS).sort());
    for (const row of docRows) expect(`${row.env} → ${row.key}`).toBe(`${row.env} → ${ENV_KEYS[row.env].key}`);
  });

  it('has a row for every key of the schema', () => {
    expect(docRows.map((r) => r.key).sort()).toEqual(leafKeys(ConfigSchema as unknown as SchemaNode).sort());
  });

  it("states the loader's sandbox default where it gives a value", () => {
    const config = loadConfig({});
    let checked = 0;
    for (const row of docRows) {
      const actual = valueAt(config, row.key);
      if (/^empty\b/.test(row.default)) {
        expect(`${row.key} = ${JSON.stringify(actual)}`).toBe(`${row.key} = ""`);
        checked++;
        continue;
      }
      // a single literal, e.g. `8080`, `./data`, `http://localhost:<port>`; prose defaults are not compared
      const literal = /^`([^`]+)`$/.exec(row.default)?.[1];
      if (literal === undefined) continue;
      const expected = literal
        .replace('<port>', String(config.port))
        .replace('<dataDir>', config.dataDir)
        .replace(/^port \+ (\d+)$/, (_, n: string) => String(config.port + Number(n)));
      const shown = row.key === 'dataDir' ? resolve(expected) : expected;
      expect(`${row.key} = ${String(actual)}`).toBe(`${row.key} = ${shown}`);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(30);
  });

  it("states the schema's integer ranges", () => {
    let checked = 0;
    for (const row of docRows) {
      const node = schemaAt(row.key);
      const integer = node.type === 'integer' ? node : node.anyOf?.find((n) => n.type === 'integer');
      const range = /(\d[\d,]*)–(\d[\d,]*)/.exec(row.type);
      const atLeast = /≥ (\d[\d,]*)/.exec(row.type);
      const num = (s: string) => Number(s.replace(/,/g, ''));
      if (range) {
        expect(`${row.key}: ${integer?.minimum}–${integer?.maximum}`).toBe(`${row.key}: ${num(range[1])}–${num(range[2])}`);
        checked++;
      } else if (atLeast) {
        expect(`${row.key}: ≥ ${integer?.minimum}`).toBe(`${row.key}: ≥ ${num(atLeast[1])}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe("README's configuration table", () => {
  it('names only variables the loader reads, for the keys it sets', () => {
    const rows = tableRows('README.md', '| variable | key | default |');
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const [variables, keys] of rows) {
      const names = [...variables.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        expect(Object.keys(ENV_KEYS)).toContain(name);
        const key = ENV_KEYS[name].key;
        // `simulator.*` stands for every key under it
        const named = [...keys.matchAll(/`([A-Za-z0-9_.*]+)`/g)].map((m) => m[1]);
        expect(named.some((k) => k === key || (k.endsWith('.*') && key.startsWith(k.slice(0, -1)))), `${name} → ${key} in ${keys}`).toBe(true);
      }
    }
  });
});
