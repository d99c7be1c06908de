/**
 * A merchant has at most one default channel of each kind: V1 calls without `pg` charge through
 * it. Channel writes running at once (two console tabs, two Pier processes, the CLI beside the
 * console) must never leave two. On PostgreSQL the writes below run on separate connections of two
 * stores, truly at once; on SQLite they take the write lock in turn.
 */
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../src/core/deps.js';
import { updateChannel } from '../../src/core/console/channels.js';
import { addChannel, listChannels, removeChannel } from '../../src/core/merchants/channels.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/db.js';
import { MIGRATION_NAMES, PierMigrations } from '../../src/store/migrations/index.js';
import { freshDatabase, startTestPier, type TestPier } from '../harness.js';

let pier: TestPier;
const extraStores: Store[] = [];

beforeAll(async () => {
  pier = await startTestPier();
});
afterAll(async () => {
  for (const s of extraStores) await s.close();
  await pier.close();
});

/** Another Pier process on the same database (PostgreSQL); SQLite is one process by design. */
function anotherProcess(): Deps {
  if (!process.env.TEST_DATABASE_URL) return pier.deps;
  const store = openStore(pier.databaseUrl, { poolSize: 10 });
  extraStores.push(store);
  return { ...pier.deps, store };
}

const channel = (mid: string, isDefault?: boolean) => ({ provider: 'jtnet', mid, merchantKey: `key-${mid}`, cancelPassword: '1234', kind: 'api' as const, sandbox: true, isDefault });

async function defaultsOf(merchantId: string) {
  return (await listChannels(pier.deps, merchantId)).filter((c) => c.kind === 'api' && c.is_default === 1).map((c) => c.mid);
}

describe('one default channel per kind under concurrent writes', () => {
  it('two first channels of a kind added at once: exactly one is the default', async () => {
    const other = anotherProcess();
    for (let round = 0; round < 12; round++) {
      const m = await createMerchant(pier.deps, { name: `race first ${round}` });
      const results = await Promise.allSettled([addChannel(pier.deps, m.merchantId, channel(`first${round}a`)), addChannel(other, m.merchantId, channel(`first${round}b`))]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(await defaultsOf(m.merchantId), `round ${round}`).toHaveLength(1);
    }
  });

  it('channels added as the default at once: exactly one default, the other channels stay', async () => {
    const other = anotherProcess();
    const m = await createMerchant(pier.deps, { name: 'race default' });
    await addChannel(pier.deps, m.merchantId, channel('base0'));
    for (let round = 0; round < 12; round++) {
      const results = await Promise.allSettled([
        addChannel(pier.deps, m.merchantId, channel(`dflt${round}a`, true)),
        addChannel(other, m.merchantId, channel(`dflt${round}b`, true)),
        addChannel(pier.deps, m.merchantId, channel(`dflt${round}c`, true)),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const defaults = await defaultsOf(m.merchantId);
      expect(defaults, `round ${round}`).toHaveLength(1);
      expect([`dflt${round}a`, `dflt${round}b`, `dflt${round}c`]).toContain(defaults[0]);
    }
    expect((await listChannels(pier.deps, m.merchantId)).length).toBe(1 + 12 * 3);
  });

  it('an edit making a channel the default racing an added default, and a removal of the default: never two, never none', async () => {
    const other = anotherProcess();
    const m = await createMerchant(pier.deps, { name: 'race edit' });
    const a = await addChannel(pier.deps, m.merchantId, channel('edit0'));
    for (let round = 0; round < 10; round++) {
      const b = await addChannel(pier.deps, m.merchantId, channel(`edit${round}b`));
      const results = await Promise.allSettled([
        updateChannel(other, m.merchantId, b.id, { isDefault: true }),
        addChannel(pier.deps, m.merchantId, channel(`edit${round}c`, true)),
        updateChannel(pier.deps, m.merchantId, a.id, { isDefault: true }),
      ]);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      expect(await defaultsOf(m.merchantId), `round ${round}`).toHaveLength(1);
      // removing the default while another channel is made the default
      const [dflt] = (await listChannels(pier.deps, m.merchantId)).filter((c) => c.kind === 'api' && c.is_default === 1);
      const removed = await Promise.allSettled([removeChannel(pier.deps, m.merchantId, dflt.id), updateChannel(other, m.merchantId, b.id === dflt.id ? a.id : b.id, { isDefault: true })]);
      expect(removed.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(await defaultsOf(m.merchantId), `round ${round} after removal`).toHaveLength(1);
      if (dflt.id === a.id) break;
    }
  });
});

describe('migration 019 on a database that has two defaults of a kind', () => {
  it('keeps the default the payment path picked (the earliest), and refuses a second one from then on', async () => {
    const fresh = await freshDatabase();
    const store = openStore(fresh.url);
    try {
      const migrator = new Migrator({ db: store.db, provider: new PierMigrations(store.dialect) });
      const before = await migrator.migrateTo('018-payments-list-indexes');
      expect(before.error).toBeUndefined();
      await store.db.insertInto('merchants').values({ id: 'mer_dup', merchant_code: 'imp00000099', name: 'dup', created_at: 1 } as never).execute();
      const ch = (id: string, mid: string, createdAt: number, kind = 'api') => ({
        id, merchant_id: 'mer_dup', provider: 'jtnet', mid, kind, name: mid, sandbox: 1, is_default: 1, merchant_key_sealed: 'x', cancel_password_sealed: 'x', created_at: createdAt, base_url: null,
      });
      await store.db.insertInto('pg_channels').values([ch('ch_b', 'midb', 200), ch('ch_a', 'mida', 100), ch('ch_c', 'midc', 100), ch('ch_w', 'midw', 300, 'window')]).execute();
      expect(await migrateToLatest(store)).toEqual(MIGRATION_NAMES.slice(MIGRATION_NAMES.indexOf('019-one-default-channel')));
      const rows = await store.db.selectFrom('pg_channels').select(['id', 'is_default']).orderBy('id').execute();
      expect(rows).toEqual([
        { id: 'ch_a', is_default: 1 },
        { id: 'ch_b', is_default: 0 },
        { id: 'ch_c', is_default: 0 },
        { id: 'ch_w', is_default: 1 },
      ]);
      await expect(store.db.updateTable('pg_channels').set({ is_default: 1 }).where('id', '=', 'ch_b').execute()).rejects.toThrow(/unique|UNIQUE/);
    } finally {
      await store.close();
      await fresh.drop();
    }
  });
});
