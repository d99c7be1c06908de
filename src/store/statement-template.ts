import { createQueryId, type Compilable, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { StatementRunner } from './pg-prepared.js';

/** A value a template statement is run with. */
export type TemplateValue = string | number | bigint | boolean | null;

/** Stand-ins for a template's values while Kysely builds it: `p.name` is the slot of `values.name`. */
export type Placeholders<V> = { readonly [K in keyof V]: V[K] };

const MARK = '\u0000pier-slot:';

type Slot = { name: string } | { constant: unknown };
interface Template {
  sql: string;
  query: CompiledQuery['query'];
  slots: Slot[];
}

const templates = new WeakMap<Kysely<any>, Map<string, Template>>();

/**
 * A statement Kysely builds and compiles once, then runs with new values: for the statements every
 * payment runs, where building and compiling Kysely's query tree cost more of Pier's CPU than any
 * other part of Pier's own code (docs/performance.md). `build` is called once per `key` and `db`
 * with placeholders instead of values; its compiled SQL is kept, and each call fills the
 * parameters from `values` in the order Kysely placed them.
 *
 * `key` names one shape: everything `build` does apart from placing values (which columns, which
 * clauses, constants such as a list of providers) must be the same for one key. A placeholder must
 * reach Kysely as a value, untouched (no slicing, no `?? undefined`: a column to keep is written as
 * `coalesce(<slot>, column)`). A values object missing a slot is refused.
 *
 * The result is a CompiledQuery (`db.executeQuery`) and a Compilable (Store.syncTransaction's `run`).
 */
export function fromTemplate<V extends Record<string, TemplateValue>, R>(
  db: Kysely<any>,
  key: string,
  values: V,
  build: (p: Placeholders<V>) => Compilable<R> | RawBuilder<R>,
): CompiledQuery<R> & Compilable<R> {
  let byKey = templates.get(db);
  if (!byKey) templates.set(db, (byKey = new Map()));
  let t = byKey.get(key);
  if (!t) {
    const placeholders = new Proxy({}, { get: (_, name) => `${MARK}${String(name)}` }) as Placeholders<V>;
    // a query builder compiles by itself; raw SQL needs the Kysely instance to compile with
    const compiled = build(placeholders).compile(db);
    const slots = compiled.parameters.map((p): Slot => (typeof p === 'string' && p.startsWith(MARK) ? { name: p.slice(MARK.length) } : { constant: p }));
    for (const p of compiled.parameters) {
      if (typeof p === 'string' && p.includes(MARK) && !p.startsWith(MARK)) throw new Error(`template ${key}: a placeholder was changed before it reached Kysely`);
    }
    if (compiled.sql.includes(MARK)) throw new Error(`template ${key}: a placeholder was written into the SQL text instead of a parameter`);
    // `{ ...p }` spreads nothing (placeholders are a proxy): a template that takes no value is a mistake
    if (!slots.some((sl) => 'name' in sl) && Object.keys(values).length > 0) throw new Error(`template ${key}: no placeholder reached the statement`);
    t = { sql: compiled.sql, query: compiled.query, slots };
    byKey.set(key, t);
  }
  const parameters = t.slots.map((s) => {
    if ('constant' in s) return s.constant;
    if (!(s.name in values)) throw new Error(`template ${key}: no value for ${s.name}`);
    return values[s.name];
  });
  // a method, not `compile: () => compiled`: tsx (esbuild's keepNames) names every arrow function
  // assigned to a property or a variable each time it is made, an Object.defineProperty per call
  return {
    sql: t.sql,
    query: t.query,
    queryId: createQueryId(),
    parameters,
    compile() {
      return this;
    },
  };
}

/**
 * Runs a template's statement outside any transaction: straight on the PostgreSQL pool when the
 * store offers it (Store.runStatement), through Kysely otherwise. `opening`: StatementRunner's
 * (through Kysely it runs before the statement is queued).
 */
export function runTemplate<R>(store: { db: Kysely<any>; runStatement?: StatementRunner }, statement: CompiledQuery<R> & Compilable<R>, opening?: () => void): Promise<{ rows: R[] }> {
  if (store.runStatement) return store.runStatement<R>(statement.sql, statement.parameters, opening);
  try {
    opening?.();
  } catch (err) {
    return Promise.reject(err);
  }
  return store.db.executeQuery(statement);
}
