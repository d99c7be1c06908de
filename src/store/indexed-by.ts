import { sql, type RawBuilder } from 'kysely';

/**
 * `table AS alias` in a statement's FROM, naming `index` on SQLite (`INDEXED BY`). SQLite plans
 * without statistics (Pier runs no ANALYZE): for a read of the few open rows of a large table it
 * read the whole table, or its primary key in order, rather than the partial index that holds just
 * those rows. PostgreSQL picks by cost, and takes a partial index only where the statement states
 * its predicate as written there.
 */
export function tableIndexedBy(dialect: 'sqlite' | 'postgres', table: string, alias: string, index: string): RawBuilder<unknown> {
  return sql`${sql.table(table)} AS ${sql.id(alias)}${dialect === 'sqlite' ? sql` INDEXED BY ${sql.id(index)}` : sql``}`;
}
