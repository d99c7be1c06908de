import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/db.js';
import { resultShapeHits } from '../src/store/pg-result-shapes.js';

const url = process.env.TEST_DATABASE_URL;

/** A client of its own (opening a store installed the memo on pg's Result). */
async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe.runIf(url)("pg's per-result setup kept per shape (src/store/pg-result-shapes.ts)", () => {
  // opening a store installs the memo, as Pier does
  let store: Store;
  beforeAll(() => {
    store = openStore(url!, { poolSize: 1 });
  });
  afterAll(() => store.close());

  it('gives the same rows as pg: a kept shape is used only for the same names, types and formats', async () => {
    await withClient(async (c) => {
      const before = resultShapeHits();
      const asNumber = async (v: number) => (await c.query({ text: 'SELECT $1::int8 AS a, $2::text AS b', values: [v, 'x'] })).rows;
      const asText = async (v: number) => (await c.query({ text: 'SELECT $1::text AS a, $2::text AS b', values: [v, 'y'] })).rows;
      expect(await asNumber(5)).toEqual([{ a: 5, b: 'x' }]);
      expect(await asText(5)).toEqual([{ a: '5', b: 'y' }]);
      expect(await asNumber(6)).toEqual([{ a: 6, b: 'x' }]);
      expect(await asText(6)).toEqual([{ a: '6', b: 'y' }]);
      // the same names in another order is another shape
      expect((await c.query(`SELECT 'q'::text AS b, 7::int8 AS a`)).rows).toEqual([{ b: 'q', a: 7 }]);
      expect(Object.keys((await c.query(`SELECT 'q'::text AS b, 7::int8 AS a`)).rows[0])).toEqual(['b', 'a']);
      expect(resultShapeHits() - before).toBeGreaterThanOrEqual(3);
    });
  });

  it('keeps a column named __proto__ an own property, and a row changed by its reader does not reach the next result', async () => {
    await withClient(async (c) => {
      const read = async () => (await c.query(`SELECT 1 AS "__proto__", 'two'::text AS b, NULL::text AS c FROM generate_series(1, 2)`)).rows as Array<Record<string, unknown>>;
      const first = await read();
      const before = resultShapeHits();
      const second = await read();
      expect(resultShapeHits()).toBe(before + 1);
      for (const row of [...first, ...second]) {
        expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
        expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe(1);
        expect(row.b).toBe('two');
        expect(row.c).toBeNull();
      }
      expect(({} as Record<string, unknown>).b).toBeUndefined();
      second[0].b = 'changed';
      second[0].c = 'set';
      second[0].d = 'added';
      const third = await read();
      expect(third).toHaveLength(2);
      for (const row of third) {
        expect(row.b).toBe('two');
        expect(row.c).toBeNull();
        expect('d' in row).toBe(false);
      }
      expect(second[1].b).toBe('two');
    });
  });

  it('a parser registered globally after a shape was kept applies to the next result', async () => {
    const numeric = 1700;
    const previous = pg.types.getTypeParser(numeric, 'text');
    try {
      await withClient(async (c) => {
        const read = async () => (await c.query(`SELECT 12.5::numeric AS n`)).rows[0].n;
        expect(await read()).toBe('12.5');
        expect(await read()).toBe('12.5');
        pg.types.setTypeParser(numeric, (v: string) => Number(v));
        expect(await read()).toBe(12.5);
      });
    } finally {
      pg.types.setTypeParser(numeric, previous as (v: string) => unknown);
    }
  });

  it("a client's own parsers are its own: pg's path, and other clients' results stay as they were", async () => {
    await withClient(async (mine) => {
      await withClient(async (other) => {
        const text = `SELECT 'abc'::text AS a`;
        expect((await other.query(text)).rows).toEqual([{ a: 'abc' }]);
        mine.setTypeParser(25, (v: string) => v.toUpperCase());
        expect((await mine.query(text)).rows).toEqual([{ a: 'ABC' }]);
        expect((await other.query(text)).rows).toEqual([{ a: 'abc' }]);
        expect((await mine.query(text)).rows).toEqual([{ a: 'ABC' }]);
        // a query with parsers of its own, likewise
        const types = { getTypeParser: () => (v: string) => `<${v}>` };
        expect((await other.query({ text, types } as unknown as pg.QueryConfig)).rows).toEqual([{ a: '<abc>' }]);
        expect((await other.query(text)).rows).toEqual([{ a: 'abc' }]);
      });
    });
  });

  it('Pier statements through the store read the same rows twice', async () => {
    const read = () => store.db.selectNoFrom((eb) => [eb.val(1).as('one'), eb.val('two').as('two')]).execute();
    const first = await read();
    const before = resultShapeHits();
    expect(await read()).toEqual(first);
    expect(resultShapeHits()).toBe(before + 1);
  });
});
