import type { Store } from '../store/db.js';
import { Vault } from './vault.js';

/**
 * Every column that holds vault-sealed values, with its table's key. A new sealed column must be
 * listed here, or `pier vault rewrap` leaves it on the old key and the boot check does not see it.
 */
export const SEALED_COLUMNS = [
  { table: 'pg_channels', key: 'id', column: 'merchant_key_sealed' },
  { table: 'pg_channels', key: 'id', column: 'cancel_password_sealed' },
  { table: 'billing_keys', key: 'id', column: 'billing_key_sealed', keyIdColumn: 'vault_key_id' },
  { table: 'webhook_settings', key: 'merchant_id', column: 'secret_sealed' },
] as const;

export type VaultCheck = { ok: true; checked: number } | { ok: false; message: string };

/**
 * Whether this process's keys open the installation's sealed data: the newest and oldest value of
 * each sealed column, and one of every key id in use, are opened. Two processes on one database
 * with different keys (each sandbox data folder generates its own) would otherwise answer 500 the
 * first time one uses what the other sealed. Exported for readiness checks.
 *
 * @example
 *   const check = await checkVaultOpensData(store, vault);
 *   if (!check.ok) throw new ConfigError(check.message);
 */
export async function checkVaultOpensData(store: Store, vault: Vault): Promise<VaultCheck> {
  const db = store.db as any;
  let checked = 0;
  for (const c of SEALED_COLUMNS) {
    const samples: { k: string; v: string }[] = [];
    for (const dir of ['asc', 'desc'] as const) {
      samples.push(...(await db.selectFrom(c.table).select([`${c.key} as k`, `${c.column} as v`]).orderBy(c.key, dir).limit(1).execute()));
    }
    // one value per key id in use: a key that was retired too early shows up here
    const seen = new Set(samples.map((s) => Vault.keyIdOf(s.v)));
    for (const id of vault.keyIds) seen.add(id);
    for (let i = 0; i < 20; i++) {
      const other = await db
        .selectFrom(c.table)
        .select([`${c.key} as k`, `${c.column} as v`])
        .where((eb: any) => eb.and([...seen].map((id) => eb(c.column, 'not like', `v1.${id}.%`))))
        .limit(1)
        .executeTakeFirst();
      if (!other) break;
      samples.push(other);
      seen.add(Vault.keyIdOf(other.v));
    }
    for (const s of samples) {
      checked++;
      try {
        vault.open(s.v);
      } catch {
        const keyId = Vault.keyIdOf(s.v);
        const known = vault.keyIds.includes(keyId);
        return {
          ok: false,
          message:
            `the vault keys of this process do not open the data in this database (${c.table}.${c.column} of ${s.k} was sealed with key "${keyId}", ` +
            `${known ? 'and the key with that id here is a different key' : 'which is not in this key ring'}). ` +
            'Every Pier process on one database needs the same PIER_VAULT_KEYS (in sandbox: the same vault.key file); after a rotation keep the old key in the ring until `pier vault rewrap` has run.',
        };
      }
    }
  }
  return { ok: true, checked };
}

export interface RewrapProgress {
  table: string;
  column: string;
  rewrapped: number;
  /** values of this column still sealed with another key when the batch started */
  remaining: number;
}

/**
 * Re-encrypts every sealed value that is not under the active key, in batches, each row with one
 * conditional UPDATE (only if it still holds the value read), so it can be stopped and run again
 * at any time, and runs safely beside live Pier processes. Afterwards older keys can be removed
 * from PIER_VAULT_KEYS. Returns how many values were re-encrypted.
 *
 * @example
 *   await rewrapVault(store, Vault.fromSpec('k2:…,k1:…'), { onProgress: (p) => console.log(p) });
 */
export async function rewrapVault(store: Store, vault: Vault, o: { batchSize?: number; onProgress?: (p: RewrapProgress) => void } = {}): Promise<number> {
  const db = store.db as any;
  const active = `v1.${vault.activeKeyId}.%`;
  let total = 0;
  for (const c of SEALED_COLUMNS) {
    let done = 0;
    let after = '';
    for (;;) {
      const remaining = Number((await db.selectFrom(c.table).select((eb: any) => eb.fn.countAll().as('n')).where(c.column, 'not like', active).executeTakeFirstOrThrow()).n);
      const rows: { k: string; v: string }[] = await db
        .selectFrom(c.table)
        .select([`${c.key} as k`, `${c.column} as v`])
        .where(c.column, 'not like', active)
        .where(c.key, '>', after)
        .orderBy(c.key)
        .limit(o.batchSize ?? 200)
        .execute();
      if (rows.length === 0) {
        o.onProgress?.({ table: c.table, column: c.column, rewrapped: done, remaining });
        break;
      }
      for (const r of rows) {
        const sealed = vault.seal(vault.open(r.v));
        // a column that records the key id beside the value (the /ready check groups by it) moves with it
        const keyId = 'keyIdColumn' in c ? { [c.keyIdColumn]: Vault.keyIdOf(sealed) } : {};
        const res = await db.updateTable(c.table).set({ [c.column]: sealed, ...keyId }).where(c.key, '=', r.k).where(c.column, '=', r.v).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 1) done++;
      }
      after = rows[rows.length - 1].k;
      o.onProgress?.({ table: c.table, column: c.column, rewrapped: done, remaining: Math.max(0, remaining - rows.length) });
    }
    total += done;
  }
  return total;
}
