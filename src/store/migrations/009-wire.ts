import { sql, type Kysely } from 'kysely';

/**
 * V1 wire fidelity (issue #11): imp_key is matched without regard to case, so getToken looks keys
 * up by `lower(imp_key)`. This index serves that lookup and keeps two keys that differ only in
 * case from ever existing, which would make the match ambiguous.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await sql`CREATE UNIQUE INDEX api_keys_imp_key_lower ON api_keys (lower(imp_key))`.execute(db);
}
