import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/store/db.js';
import { freshDatabase } from './harness.js';

describe.runIf(process.env.TEST_DATABASE_URL)('the PostgreSQL pool', () => {
  it('survives the server killing its idle connections, and reconnects for the next query', async () => {
    const db = await freshDatabase();
    const lost: string[] = [];
    const store = openStore(db.url, { onIdleError: (err) => lost.push(err.message) });
    try {
      const one = async () => (await store.db.selectNoFrom((eb) => eb.lit(1).as('one')).executeTakeFirstOrThrow()).one;
      expect(await one()).toBe(1);
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      const name = new URL(db.url).pathname.slice(1);
      const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await admin.end();
      expect(killed.rowCount).toBeGreaterThan(0);
      await expect.poll(() => lost.length, { timeout: 15_000 }).toBeGreaterThan(0);
      expect(lost[0]).toMatch(/terminating connection/);
      expect(await one()).toBe(1);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
