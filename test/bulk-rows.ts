/**
 * Large tables for tests, written straight into the store: copies of a real row made through Pier,
 * in one statement, on either database.
 */
import { sql } from 'kysely';
import type { Store } from '../src/store/db.js';

export interface TableColumn {
  name: string;
  type: string;
  notnull: boolean;
}

/** `table`'s columns, in order, on either database. */
export async function tableColumns(store: Store, table: string): Promise<TableColumn[]> {
  if (store.dialect === 'sqlite') {
    const rows = (await sql<{ name: string; type: string; notnull: number }>`select name, type, "notnull" from pragma_table_info(${table})`.execute(store.db)).rows;
    return rows.map((c) => ({ name: c.name, type: c.type, notnull: c.notnull === 1 }));
  }
  const rows = (
    await sql<{ name: string; type: string; nullable: string }>`select column_name as name, data_type as type, is_nullable as nullable from information_schema.columns where table_name = ${table} and table_schema = current_schema() order by ordinal_position`.execute(
      store.db,
    )
  ).rows;
  return rows.map((c) => ({ name: c.name, type: c.type, notnull: c.nullable === 'NO' }));
}

/**
 * Writes `count` copies of the rows of `table` that `where` admits (the original is `p`): each
 * column as the original's, except those `copied` computes, in SQL, from the copy's number `s.i`
 * (1 to `count`).
 */
export async function insertCopies(store: Store, table: string, o: { count: number; where: string; copied: Record<string, string> }): Promise<void> {
  const columns = (await tableColumns(store, table)).map((c) => c.name);
  await sql
    .raw(
      `with recursive s(i) as (select 1 union all select i + 1 from s where i < ${o.count}) ` +
        `insert into ${table} (${columns.join(', ')}) select ${columns.map((n) => o.copied[n] ?? `p.${n}`).join(', ')} from ${table} p, s where ${o.where}`,
    )
    .execute(store.db);
}
