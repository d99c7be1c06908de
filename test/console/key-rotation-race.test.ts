/**
 * Rotating the REST key twice at once (a double-clicked "Rotate" button, two staff members, the
 * console and `pier merchant rotate-key`) must leave one key: the rotation that commits last
 * revokes every key before it, the other rotation's new key included. On PostgreSQL each rotation
 * revoked only the keys its UPDATE could see, so the second one left the first one's new key live
 * beside its own: a working imp_key/imp_secret whose page the browser had already thrown away.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

let c: ConsolePier;
let alice: ConsoleUser;
let a: Agent;

beforeAll(async () => {
  c = await startConsolePier();
  alice = await c.newUser();
  a = c.agent();
  expect((await a.signIn(alice.email, alice.password)).status).toBe(303);
});
afterAll(() => c.close());

/** Backends of this test's database waiting for a lock (PostgreSQL). */
async function waitingForLocks(): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(c.pier.store.db);
  return Number(rows[0]!.n);
}

/** Backends of this test's database waiting for a lock while inserting into `table`. */
async function insertsWaiting(table: string): Promise<number> {
  const { rows } = await sql<{ n: string }>`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike ${`insert into "${table}"%`}`.execute(c.pier.store.db);
  return Number(rows[0]!.n);
}

async function until(what: string, ok: () => Promise<boolean>) {
  for (let i = 0; !(await ok()); i++) {
    if (i >= 10_000) throw new Error(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('two REST key rotations at once', () => {
  it('leave only the key of the rotation that committed last; the other new key stops working too', async () => {
    const rotateTwice = () => Promise.all([a.api('POST', '/console/api/keys/rotate'), a.api('POST', '/console/api/keys/rotate')]);
    let rotations: ReturnType<typeof rotateTwice>;
    if (c.pier.store.dialect === 'postgres') {
      // the two rotations meet for sure: the merchant's current key row is held until both wait
      await c.pier.store.db.transaction().execute(async (trx) => {
        await trx.selectFrom('api_keys').select('id').where('merchant_id', '=', alice.merchant.merchantId).where('revoked_at', 'is', null).forUpdate().execute();
        rotations = rotateTwice();
        await until('both rotations wait for a lock', async () => (await waitingForLocks()) >= 2);
      });
    } else {
      // SQLite: one writer at a time
      rotations = rotateTwice();
    }
    const answers = await rotations!;
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    const issued = answers.map((r) => ({ imp_key: r.json.imp_key as string, imp_secret: r.json.imp_secret as string }));
    expect(issued[0].imp_key).not.toBe(issued[1].imp_key);

    const active = (await a.get('/console/api/keys')).json.keys.map((k: { imp_key: string }) => k.imp_key);
    expect(active).toHaveLength(1);
    expect(issued.map((k) => k.imp_key)).toContain(active[0]);
    for (const k of issued) {
      const r = await c.pier.call('POST', '/users/getToken', { body: k });
      expect(r.status, k.imp_key).toBe(k.imp_key === active[0] ? 200 : 401);
    }
    // the key issued before both is gone as well
    expect((await c.pier.call('POST', '/users/getToken', { body: { imp_key: alice.merchant.impKey, imp_secret: alice.merchant.impSecret } })).status).toBe(401);
  });
});

describe('a REST key rotation under way', () => {
  // the rotation locks the merchant's row to take turns with other rotations; a row lock that also
  // held up the merchant's own inserts (their foreign key key-share-locks that row) would stall its
  // payments for as long as a rotation waits
  it.runIf(process.env.TEST_DATABASE_URL)('does not hold up the merchant’s payments (PostgreSQL)', async () => {
    const bob = await c.newUser();
    const b = c.agent();
    expect((await b.signIn(bob.email, bob.password)).status).toBe(303);
    let prepare: { status: number; body: any } | undefined;
    let rotation: Promise<unknown>;
    await c.pier.store.db.transaction().execute(async (trx) => {
      // the rotation waits inside its transaction, the merchant row already locked
      await trx.selectFrom('api_keys').select('id').where('merchant_id', '=', bob.merchant.merchantId).where('revoked_at', 'is', null).forUpdate().execute();
      rotation = b.api('POST', '/console/api/keys/rotate');
      await until('the rotation waits for a lock', async () => (await waitingForLocks()) >= 1);
      void c.pier
        .call('POST', '/payments/prepare', { token: bob.merchant.token, body: { merchant_uid: `rot_${Date.now()}`, amount: 1000 } })
        .then((r) => (prepare = r));
      await until('the prepare is answered or waits for a lock', async () => prepare !== undefined || (await insertsWaiting('payment_prepares')) > 0);
      expect(await insertsWaiting('payment_prepares'), 'the prepare waits for the rotation').toBe(0);
    });
    expect(prepare?.status).toBe(200);
    expect(prepare?.body.code).toBe(0);
    await rotation!;
  });
});
