import { sql, type Kysely } from 'kysely';

/**
 * `billing_keys_vault_key (vault_key_id)`: GET /ready's vault check opens one billing key per vault
 * key id (src/vault/self-check.ts). Without an index it found them by reading every billing key
 * the installation ever stored, at every call of a public endpoint anyone may call as often as
 * they like; with it, each key id is one step in the index (decision 0116). A billing key's
 * `vault_key_id` changes only when it is issued again or rewrapped, so the index costs its writes
 * little. Built from a read of the whole table, holding its writes meanwhile (a second or so per
 * million billing keys).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await sql`create index if not exists billing_keys_vault_key on billing_keys (vault_key_id)`.execute(db);
}
