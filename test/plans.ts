/**
 * The databases' own plans of the statements Pier runs: capture what a piece of Pier ran through
 * `store.db` (statementsOf), then ask the database how it plans each (planOf).
 */
import pg from 'pg';
import SQLite from 'better-sqlite3';
import type { KyselyPlugin, RootOperationNode } from 'kysely';
import type { Store } from '../src/store/db.js';
import { INDEX_ONLY_SETTINGS } from '../src/store/index-only.js';
import type { TestPier } from './harness.js';

/**
 * The plan of `text` with `parameters` on `on`'s database, one line per node; `setup` runs first in
 * the same session.
 * `generic`: PostgreSQL's generic plan, the one a connection caches for a named statement and uses
 * whatever the parameters (SQLite has only one kind).
 */
export async function planOf(on: TestPier, text: string, parameters: readonly unknown[], o: { setup?: string[]; generic?: boolean } = {}): Promise<string> {
  if (on.store.dialect === 'sqlite') {
    const db = new SQLite(on.databaseUrl.slice('sqlite:'.length), { readonly: true });
    try {
      return (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...(parameters as unknown[])) as { detail: string }[]).map((r) => r.detail).join('\n');
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: on.databaseUrl });
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const s of o.setup ?? []) await c.query(s);
    let explain = `EXPLAIN ${text}`;
    if (o.generic) {
      await c.query(`PREPARE planned AS ${text}`);
      await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
      // EXECUTE takes its arguments as literals only (a generic plan does not look at them)
      const element = (x: unknown) => `"${String(x).replace(/["\\]/g, '\\$&')}"`;
      const literal = (v: unknown): string =>
        v === null ? 'NULL' : typeof v === 'number' ? String(v) : Array.isArray(v) ? c.escapeLiteral(`{${v.map(element).join(',')}}`) : c.escapeLiteral(String(v));
      explain = `EXPLAIN EXECUTE planned${parameters.length > 0 ? `(${parameters.map(literal).join(', ')})` : ''}`;
    }
    const r = await c.query({ text: explain, values: o.generic ? [] : (parameters as unknown[]) });
    return r.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
}

/** A statement Pier ran, as compiled, and the settings its session had (byIndexOnly's connections). */
export interface RanStatement {
  sql: string;
  parameters: readonly unknown[];
  /** SET LOCAL statements that give a planning session the same settings */
  session: string[];
  /** `reader`: it ran through Store.readerDb on its own SQLite thread, off the event loop */
  on?: 'reader';
}

/**
 * The statements `work` ran through the store (`db`, and `indexOnlyDb` on PostgreSQL; SQLite's
 * syncTransaction units too), in order, compiled as the store ran them (a transaction's own BEGIN
 * and COMMIT are not statements of Kysely's and do not appear).
 */
export async function statementsOf(on: TestPier, work: (store: Store) => Promise<unknown>): Promise<RanStatement[]> {
  const nodes = new Map<unknown, RootOperationNode>();
  const ran: RanStatement[] = [];
  const compile = (node: RootOperationNode) => on.store.db.getExecutor().compileQuery(node, { queryId: 'plan' } as never);
  const capture = (session: string[], where?: 'reader'): KyselyPlugin => ({
    // a statement's subqueries are transformed too: only the node of a query that ran is kept
    transformQuery: (a) => {
      nodes.set(a.queryId, a.node);
      return a.node;
    },
    transformResult: async (a) => {
      ran.push({ ...compile(nodes.get(a.queryId)!), session, ...(where ? { on: where } : {}) });
      return a.result;
    },
  });
  const indexOnly = Object.entries(INDEX_ONLY_SETTINGS).map(([name, value]) => `SET LOCAL ${name} = ${value}`);
  const syncTransaction = on.store.syncTransaction;
  const db = on.store.db.withPlugin(capture([]));
  await work({
    ...on.store,
    db,
    readerDb: on.store.readerDb === on.store.db ? db : on.store.readerDb.withPlugin(capture([], 'reader')),
    indexOnlyDb: on.store.indexOnlyDb?.withPlugin(capture(indexOnly)),
    syncTransaction:
      syncTransaction &&
      ((unit) =>
        syncTransaction((run) =>
          unit((query) => {
            const rows = run(query);
            ran.push({ ...query.compile(), session: [] });
            return rows;
          }),
        )),
  });
  return ran.map(({ sql, parameters, session, on: where }) => ({ sql, parameters, session, ...(where ? { on: where } : {}) }));
}
