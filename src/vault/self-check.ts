import type { Kysely } from 'kysely';
import type { Database } from '../store/types.js';
import { Vault } from './vault.js';

export type VaultSelfCheck = { ok: true; checked: number } | { ok: false; problem: string };

/**
 * Do the configured vault keys open this installation's sealed data? Opens, for each kind of sealed
 * value, the oldest and the newest row (an old key dropped from the ring too early, or an entirely
 * wrong key set), and one billing key per recorded key id. A database with nothing sealed yet passes.
 * Never returns key material or plaintext; the problem names the kind of data and the key id only.
 *
 * @example
 *   const r = await vaultSelfCheck(store.db, vault);
 *   if (!r.ok) console.error(r.problem); // 'billing key sealed with vault key "k2025" does not open: …'
 */
export async function vaultSelfCheck(db: Kysely<Database>, vault: Vault): Promise<VaultSelfCheck> {
  const samples: { kind: string; box: string }[] = [];
  for (const order of ['asc', 'desc'] as const) {
    const channel = await db.selectFrom('pg_channels').select('merchant_key_sealed').orderBy('created_at', order).limit(1).executeTakeFirst();
    if (channel) samples.push({ kind: 'PG channel key', box: channel.merchant_key_sealed });
    const webhook = await db.selectFrom('webhook_settings').select('secret_sealed').orderBy('created_at', order).limit(1).executeTakeFirst();
    if (webhook) samples.push({ kind: 'webhook secret', box: webhook.secret_sealed });
  }
  // one billing key per key id, each found by one step in billing_keys_vault_key (migration 031)
  // past the last id found: GET /ready runs this for anyone who asks, and a GROUP BY read every
  // billing key stored (decision 0116). Key ids are the ring's few rotations, so few steps.
  for (let after = ''; ; ) {
    const next = await db
      .selectFrom('billing_keys')
      .select(['vault_key_id', 'billing_key_sealed'])
      .where('vault_key_id', '>', after)
      .orderBy('vault_key_id')
      .limit(1)
      .executeTakeFirst();
    if (!next) break;
    samples.push({ kind: 'billing key', box: next.billing_key_sealed });
    after = next.vault_key_id;
  }

  for (const s of samples) {
    try {
      vault.open(s.box);
    } catch (err) {
      return { ok: false, problem: `${s.kind} sealed with vault key "${Vault.keyIdOf(s.box)}" does not open: ${(err as Error).message}` };
    }
  }
  return { ok: true, checked: samples.length };
}
