import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { signIn } from '../../src/core/console/users.js';
import { startPier } from '../../src/main.js';
import { freshDatabase } from '../harness.js';

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const env = () => ({ PORT: '0', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0' });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-main-console-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function start() {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    const pier = await startPier(loadConfig(env()));
    return { pier, out };
  } finally {
    spy.mockRestore();
  }
}

describe('the console on a sandbox start', () => {
  it('prints the console URL and, on the first start only, a console user of the demo merchant that can sign in', async () => {
    const first = await start();
    try {
      expect(first.out).toMatch(/ {2}Console {6}http:\/\/localhost:\d+\/console/);
      const m = /console {6}(demo@pier\.local) {3}password (\S+)/.exec(first.out);
      expect(m, first.out).not.toBeNull();
      expect((await signIn(first.pier.deps, m![1], m![2])).outcome).toBe('ok');
      // the console answers on the listening server, with the sandbox tools wired to the simulator
      const page = await fetch(`${first.pier.address}/console/login`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('콘솔 로그인');
    } finally {
      await first.pier.stop();
    }
    const second = await start();
    try {
      expect(second.out).toContain('demo@pier.local');
      expect(second.out).not.toMatch(/demo@pier\.local {3}password/);
      expect(await second.pier.deps.store.db.selectFrom('console_users').select('email').execute()).toEqual([{ email: 'demo@pier.local' }]);
    } finally {
      await second.pier.stop();
    }
  });
});

describe('ended rows in a running Pier (decision 0067)', () => {
  it('purges ended console sessions, old rate-limit buckets and expired access tokens in the background', async () => {
    const now = Math.floor(Date.now() / 1000);
    const first = await start();
    try {
      const { db } = first.pier.deps.store;
      const user = await db.selectFrom('console_users').select(['id', 'merchant_id']).executeTakeFirstOrThrow();
      const key = await db.selectFrom('api_keys').select(['id', 'merchant_id']).executeTakeFirstOrThrow();
      const session = (id: string, lastSeen: number) => ({ id_hash: id, user_id: user.id, merchant_id: user.merchant_id, csrf_token: 'x'.repeat(32), created_at: lastSeen, last_seen_at: lastSeen, expires_at: lastSeen + 12 * 3600 });
      // a browser closed 3 hours ago without signing out, and one in use
      await db.insertInto('console_sessions').values([session('a'.repeat(64), now - 3 * 3600), session('b'.repeat(64), now)]).execute();
      await db.insertInto('rate_limit_buckets').values([{ bucket: 'console:key:old', window_start: now - 2 * 86_400, hits: 4 }, { bucket: 'console:key:live', window_start: now - (now % 60), hits: 4 }]).execute();
      await db.insertInto('access_tokens').values({ id: 'tok_ended', merchant_id: key.merchant_id, api_key_id: key.id, token_hash: 'c'.repeat(64), issued_at: now - 3 * 3600, expires_at: now - 2 * 3600 }).execute();
    } finally {
      await first.pier.stop();
    }
    // the rows were written after the runner's first look, which then rests a minute: a restart looks at once
    const second = await start();
    try {
      const { db } = second.pier.deps.store;
      await vi.waitFor(
        async () => {
          const [sessions, buckets, tokens] = await Promise.all([
            db.selectFrom('console_sessions').select('id_hash').execute(),
            db.selectFrom('rate_limit_buckets').select('bucket').where('bucket', 'like', 'console:key:%').execute(),
            db.selectFrom('access_tokens').select('id').where('id', '=', 'tok_ended').execute(),
          ]);
          expect(sessions.map((r) => r.id_hash)).toEqual(['b'.repeat(64)]);
          expect(buckets.map((r) => r.bucket)).toEqual(['console:key:live']);
          expect(tokens).toEqual([]);
        },
        { timeout: 10_000, interval: 50 },
      );
    } finally {
      await second.pier.stop();
    }
  });
});
