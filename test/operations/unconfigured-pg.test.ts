/**
 * A production Pier without a tPay host (PIER_JTNET_URL unset, no simulator): tPay closed in 2023,
 * so a real production Pier is usually NICE-only (decision 0079). JTNET is then left out of the
 * registry: the start succeeds, /ready does not wait for a tPay host, and a channel of JTNET made
 * while it was configured is answered with V1's envelope, never a 500.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { addChannel } from '../../src/core/merchants/channels.js';
import { createMerchant, type CreatedMerchant } from '../../src/core/merchants/merchants.js';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { runWindowConfirm } from '../../src/core/checkout/window-confirm-job.js';
import { claimWindowConfirms, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import { updateChannel } from '../../src/core/console/channels.js';
import { createConsoleUser } from '../../src/core/console/users.js';
import { startPier } from '../../src/main.js';
import { Agent } from '../console/console-harness.js';
import { openStore } from '../../src/store/db.js';
import { freshDatabase, startTestPier, testCardNumber } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let merchant: CreatedMerchant;
const vaultKeys = `k1:${randomBytes(32).toString('base64')}`;
const production = (extra: Record<string, string> = {}) =>
  loadConfig({ PORT: '0', HOST: '127.0.0.1', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_MODE: 'production', PIER_VAULT_KEYS: vaultKeys, ...extra });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-unconfigured-pg-'));
  db = await freshDatabase();
  // a Pier that once had a tPay host: a merchant whose API channel is JTNET's
  const before = await startPier(production({ PIER_JTNET_URL: 'http://127.0.0.1:9' }));
  try {
    merchant = await createMerchant(before.deps, { name: 'tPay shop' });
    await addChannel(before.deps, merchant.merchantId, { provider: 'jtnet', mid: 'tpaylive1m', merchantKey: 'k'.repeat(40), cancelPassword: '123456', kind: 'api', sandbox: false });
  } finally {
    await before.stop();
  }
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function post(address: string, path: string, body: unknown, token?: string) {
  const res = await request(`${address}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as { code: number; message: string | null; response: unknown } };
}

describe('production without PIER_JTNET_URL', () => {
  it('starts, /ready is 200 without a pg:jtnet check, and JTNET is absent from the registry', async () => {
    const pier = await startPier(production());
    try {
      expect(pier.deps.connectors.providers()).toEqual(['nice_v2']);
      expect(pier.deps.connectors.get('jtnet')).toBeUndefined();
      expect(pier.deps.connectors.unconfigured()).toEqual([{ provider: 'jtnet', label: 'JTNet(tPay)', setupHint: expect.stringContaining('PIER_JTNET_URL') }]);
      const res = await request(`${pier.address}/ready`);
      const body = (await res.body.json()) as { status: string; checks: Record<string, string> };
      expect(res.statusCode).toBe(200);
      expect(body.status).toBe('ready');
      expect(Object.keys(body.checks)).not.toContain('pg:jtnet');
      expect(body.checks).toMatchObject({ database: 'ok', migrations: 'ok', vault: 'ok' });
    } finally {
      await pier.stop();
    }
  });

  it('a payment through a JTNET channel gets V1\'s "not configured" answer, not a 500, and frees its merchant_uid', async () => {
    const pier = await startPier(production());
    try {
      const token = await post(pier.address, '/users/getToken', { imp_key: merchant.impKey, imp_secret: merchant.impSecret });
      expect(token.body.code).toBe(0);
      const accessToken = (token.body.response as { access_token: string }).access_token;
      const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-01', birth: '123456', amount: 1000 };
      // one merchant_uid for all: an attempt that kept it would make the next answer "in progress"
      const merchantUid = `order_${randomBytes(4).toString('hex')}`;
      for (const pg of ['jtnet', 'jtnet.tpaylive1m', undefined]) {
        const pay = await post(pier.address, '/subscribe/payments/onetime', { ...card, merchant_uid: merchantUid, ...(pg ? { pg } : {}) }, accessToken);
        expect(pay.status).toBe(501);
        expect(pay.body).toEqual({ code: 1, message: 'PG "jtnet" is not configured in this Pier', response: null });
      }
    } finally {
      await pier.stop();
    }
  });

  it('adding a JTNET channel is refused with a message naming PIER_JTNET_URL', async () => {
    const pier = await startPier(production());
    try {
      await expect(
        addChannel(pier.deps, merchant.merchantId, { provider: 'jtnet', mid: 'tpaylive2m', merchantKey: 'k'.repeat(40), cancelPassword: '123456', kind: 'api', sandbox: false }),
      ).rejects.toThrow('provider: PG "jtnet" is not configured in this Pier (set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host)');
    } finally {
      await pier.stop();
    }
  });

  it('the console lists the JTNET channel but offers no JTNET tab, and refuses a JTNET channel on its provider field', async () => {
    const pier = await startPier(production());
    try {
      const email = `ops-${randomBytes(3).toString('hex')}@example.com`;
      await createConsoleUser(pier.deps, merchant.merchantId, email, 'correct horse battery staple');
      const a = new Agent(pier.app);
      expect((await a.signIn(email, 'correct horse battery staple')).status).toBe(303);
      const page = await a.get('/console/channels');
      expect(page.status).toBe(200);
      expect(page.body).toContain('jtnet.tpaylive1m');
      expect(page.body).toContain('/console/channels?provider=nice_v2');
      expect(page.body).not.toContain('/console/channels?provider=jtnet');
      const r = await a.api('POST', '/console/api/channels', { provider: 'jtnet', kind: 'api', mid: 'tpaylive3m', merchant_key: 'k'.repeat(40), cancel_password: '123456' });
      expect(r.status).toBe(400);
      // the other fields are checked by the default PG's rules, as for any PG this Pier lacks
      expect(r.json.error.fields.provider).toBe('목록에서 선택하세요.');
      expect((await pier.deps.store.db.selectFrom('pg_channels').select('mid').where('mid', '=', 'tpaylive3m').execute()).length).toBe(0);
    } finally {
      await pier.stop();
    }
  });
});

describe('editing a channel of a PG left out (decision 0080)', () => {
  it('the console shows its own PG\'s form and saves what needs no PG (its name, its secret), but refuses to make it the default', async () => {
    const pier = await startPier(production());
    try {
      const email = `edit-${randomBytes(3).toString('hex')}@example.com`;
      await createConsoleUser(pier.deps, merchant.merchantId, email, 'correct horse battery staple');
      const a = new Agent(pier.app);
      expect((await a.signIn(email, 'correct horse battery staple')).status).toBe(303);
      const jtnet = await pier.deps.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', merchant.merchantId).where('provider', '=', 'jtnet').executeTakeFirstOrThrow();
      const page = await a.get(`/console/channels/${jtnet.id}`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('data-provider="jtnet"');
      expect(page.body).toContain('name="cancel_password"');

      const renamed = await a.api('PATCH', `/console/api/channels/${jtnet.id}`, { name: 'old tPay contract', merchant_key: 'n'.repeat(40) });
      expect(renamed.status, JSON.stringify(renamed.json)).toBe(200);
      expect(renamed.json.channel).toMatchObject({ provider: 'jtnet', mid: 'tpaylive1m', name: 'old tPay contract' });
      const row = await pier.deps.store.db.selectFrom('pg_channels').selectAll().where('id', '=', jtnet.id).executeTakeFirstOrThrow();
      expect(pier.deps.vault.open(row.merchant_key_sealed)).toBe('n'.repeat(40));

      // a NICE channel is the API default now; the JTNET one may not take it back while JTNET is left out
      const nice = await addChannel(pier.deps, merchant.merchantId, { provider: 'nice_v2', mid: 'R2_0123456789abcdef0123456789abcdef', merchantKey: 'k'.repeat(32), cancelPassword: '', kind: 'api', sandbox: false, isDefault: true });
      const refused = await a.api('PATCH', `/console/api/channels/${jtnet.id}`, { is_default: '1' });
      expect(refused.status).toBe(400);
      expect(refused.json.error.fields.is_default).toBe('이 Pier에 설정되지 않은 PG의 설정은 기본 설정이 될 수 없습니다. (pg 없이 요청한 결제가 모두 실패합니다.)');
      expect((await pier.deps.store.db.selectFrom('pg_channels').select('is_default').where('id', '=', jtnet.id).executeTakeFirstOrThrow()).is_default).toBe(0);
      // what `pier channel default` says
      await expect(updateChannel(pier.deps, merchant.merchantId, jtnet.id, { isDefault: true })).rejects.toThrow(
        'is_default: PG "jtnet" is not configured in this Pier (set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host): its channel cannot be the default',
      );
      // nor become it when the default is removed: the kind is left without one, and the answer says so (decision 0087)
      const removed = await a.api('DELETE', `/console/api/channels/${nice.id}`);
      expect(removed.status).toBe(200);
      expect((await pier.deps.store.db.selectFrom('pg_channels').select('is_default').where('id', '=', jtnet.id).executeTakeFirstOrThrow()).is_default).toBe(0);
      expect(removed.json).toEqual({ ok: true, new_default: null, without_default: true });
    } finally {
      await pier.stop();
    }
  });
});

describe("removing a kind's default on a Pier that leaves a PG out (decision 0087)", () => {
  /** `pier …` (bin/pier.js) as a child process on this Pier's database, JTNET left out as in `production()` */
  function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
    Object.assign(env, { DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, PIER_MODE: 'production', PIER_VAULT_KEYS: vaultKeys, LOG_LEVEL: 'silent' });
    return new Promise((done) => {
      execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env, timeout: 120_000 }, (err, stdout, stderr) => {
        done({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
      });
    });
  }

  it("promotes the kind's first channel of a PG this Pier configures, never a left-out PG's older one; with only those left, none, and the console and the CLI say so", async () => {
    // made while the Pier had a tPay host: the API channels, oldest first, JTNET's, then two of NICE, the first of them the default
    const before = await startPier(production({ PIER_JTNET_URL: 'http://127.0.0.1:9' }));
    let shop!: CreatedMerchant;
    const nice: { id: string; mid: string }[] = [];
    try {
      shop = await createMerchant(before.deps, { name: 'tPay and NICE shop' });
      const jtnet = await addChannel(before.deps, shop.merchantId, { provider: 'jtnet', mid: 'tpaylive5m', merchantKey: 'k'.repeat(40), cancelPassword: '123456', kind: 'api', sandbox: false });
      for (const mid of ['R2_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'R2_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb']) {
        nice.push(await addChannel(before.deps, shop.merchantId, { provider: 'nice_v2', mid, merchantKey: 'k'.repeat(32), cancelPassword: '', kind: 'api', sandbox: false }));
      }
      await updateChannel(before.deps, shop.merchantId, nice[0]!.id, { isDefault: true });
      for (const [i, id] of [jtnet.id, nice[0]!.id, nice[1]!.id].entries()) await before.deps.store.db.updateTable('pg_channels').set({ created_at: 1_800_000_000 + i }).where('id', '=', id).execute();
    } finally {
      await before.stop();
    }
    const defaults = async () => (await channelsOf(shop.merchantId)).filter((c) => c.is_default === 1).map((c) => `${c.provider}.${c.mid}`);
    expect(await defaults()).toEqual([`nice_v2.${nice[0]!.mid}`]);

    // the console of a Pier without JTNET removes the default: the other NICE channel takes it, not the older JTNET one
    const pier = await startPier(production());
    try {
      const email = `remove-${randomBytes(3).toString('hex')}@example.com`;
      await createConsoleUser(pier.deps, shop.merchantId, email, 'correct horse battery staple');
      const a = new Agent(pier.app);
      expect((await a.signIn(email, 'correct horse battery staple')).status).toBe(303);
      const removed = await a.api('DELETE', `/console/api/channels/${nice[0]!.id}`);
      expect(removed.status).toBe(200);
      expect(await defaults()).toEqual([`nice_v2.${nice[1]!.mid}`]);
      expect(removed.json).toEqual({ ok: true, new_default: `nice_v2.${nice[1]!.mid}`, without_default: false });
    } finally {
      await pier.stop();
    }

    // `pier channel remove` of the last NICE one: only JTNET's is left, and it does not become the default
    const last = await cli(['channel', 'remove', shop.merchantCode, nice[1]!.id]);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toContain(`removed channel ${nice[1]!.id} (nice_v2.${nice[1]!.mid}, api) from ${shop.merchantCode}`);
    expect(last.stdout).toContain('no api channel is the default now: the remaining ones are of PGs not configured in this Pier');
    expect(await defaults()).toEqual([]);
  });
});

/** A merchant's channels, read straight from the database. */
async function channelsOf(merchantId: string) {
  const store = openStore(db.url, { poolSize: 1 });
  try {
    return await store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', merchantId).orderBy('created_at').execute();
  } finally {
    await store.close();
  }
}

describe('background work on a channel of a PG left out', () => {
  it('a window acknowledgement of a JTNET channel waits, no try counted, naming why, instead of failing as a bug (decision 0080)', async () => {
    const pier = await startTestPier();
    const niceOnly = createConnectorRegistry({});
    try {
      const m = await pier.newMerchant();
      const ch = await pier.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).where('provider', '=', 'jtnet').where('kind', '=', 'window').executeTakeFirstOrThrow();
      await enqueueWindowConfirm(pier.deps, 'imp_nojtnet0001', ch.id, 'tid_nojtnet_1');
      const [job] = await claimWindowConfirms(pier.deps, { owner: 'worker-a', limit: 10 });
      expect(job.imp_uid).toBe('imp_nojtnet0001');
      await runWindowConfirm({ ...pier.deps, connectors: niceOnly }, job, 'worker-a');
      const row = await pier.store.db.selectFrom('window_confirms').selectAll().where('imp_uid', '=', 'imp_nojtnet0001').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ state: 'pending', attempts: 0, lease_owner: null, last_error: 'PG "jtnet" is not configured in this Pier' });
      // PG_LEFT_OUT_WAIT_SECONDS, whatever its tries (test/operations/left-out-pg-rows-wait.test.ts runs it past all of them)
      expect(Number(row.due_at)).toBe(Math.floor(pier.clock.now() / 1000) + 300);
    } finally {
      await niceOnly.close();
      await pier.close();
    }
  });
});
